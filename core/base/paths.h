// paths.h: the file-system questions every command asks before it writes: does a path exist, is it a
// folder, is it empty, is it the same file as another, create a folder with its parents, and hold a lock
// on an output folder for the life of the process (the kernel releases it when the process dies, so a
// kill -9 leaves nothing stale).
#pragma once
#include <stddef.h>

int path_exists(const char *p);
int path_is_dir(const char *p);
// 1 when a and b name the same existing file or folder (device and inode), else 0.
int path_same(const char *a, const char *b);
// The number of entries of a folder (without . and ..), the first one's name in first (may be NULL);
// -1 when it cannot be read.
int dir_entries(const char *dir, char *first, size_t n);
// mkdir -p: 0, or -1 with a message naming the part that could not be made.
int path_mkdirs(const char *path, char *err, size_t n);
// Takes an exclusive lock on DIR/.bigs.lock (flock), held until the process exits, and writes this process's
// id into it. 0, or -1 with a message naming the process that holds it ("another bigs (pid 123) ...").
int dir_lock(const char *dir, const char *what, char *err, size_t n);
