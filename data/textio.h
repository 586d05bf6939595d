// textio.h: reading text line by line from plain or gzip-compressed files (zlib reads both), lines
// of any length (a 100 MB line is one line), "\r\n" and a last line without "\n" handled.
#pragma once
#include <stddef.h>
#include <zlib.h>

typedef struct {
    gzFile gz;             // the file, or NULL when reading from memory
    const char *mem;       // line_reader_open_mem: the text and how much of it is consumed
    size_t mem_len, mem_pos;
    char *path;
    char *buf;             // the current line (NUL-terminated; may contain NUL bytes)
    size_t cap, len;
    char chunk[1 << 16];   // read-ahead
    size_t chunk_len, chunk_pos;
    unsigned long long bytes;  // compressed-or-plain bytes consumed so far (progress)
    int eof;
} LineReader;

int line_reader_open(LineReader *r, const char *path, char *err, size_t n);
// The same over text[0..len) in memory (uncompressed; it must outlive r); name is for messages.
void line_reader_open_mem(LineReader *r, const char *text, size_t len, const char *name);
// The next line in r->buf / r->len without its end-of-line; 1, or 0 at the end, -1 on a read error.
int line_reader_next(LineReader *r, char *err, size_t n);
void line_reader_close(LineReader *r);
