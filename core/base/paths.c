// paths.c: see paths.h.
#include "core/base/paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"

int path_exists(const char *p) { struct stat sb; return stat(p, &sb) == 0; }

int path_is_dir(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode); }

int path_same(const char *a, const char *b) {
    struct stat x, y;
    return a && b && stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int dir_entries(const char *dir, char *first, size_t n) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!count && first) snprintf(first, n, "%s", e->d_name);
        count++;
    }
    closedir(d);
    return count;
}

int path_mkdirs(const char *path, char *err, size_t n) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return errf(err, n, "%s: cannot create the folder %s: %s", path, buf, strerror(errno));
        if (!path_is_dir(buf)) return errf(err, n, "%s: cannot create the folder: %s exists and is not a folder", path, buf);
        *p = c;
        if (!c) break;
    }
    return 0;
}

int dir_lock(const char *dir, const char *what, char *err, size_t n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/.bigs.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errf(err, n, "%s: cannot create the lock file: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t k = pread(fd, pid, sizeof pid - 1, 0);
        pid[k > 0 ? k : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        return errf(err, n, "%s: another bigs (pid %s) is %s it; wait for it to end, or choose another folder", dir, pid[0] ? pid : "?", what);
    }
    char me[32];
    int k = snprintf(me, sizeof me, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me, (size_t)k, 0) != k) { /* the lock holds without the pid */ }
    return 0;  // fd stays open: the lock lasts as long as the process
}
