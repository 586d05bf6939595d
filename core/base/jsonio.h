// jsonio.h: JSON files for configs and results: read (fatal with the line of a syntax error), written
// atomically, or appended as one line (metrics.jsonl).
#pragma once
#include <cjson/cJSON.h>

cJSON *json_read_file(const char *path);                  // fatal: "path:LINE: not valid JSON"
void json_write_file(const char *path, const cJSON *j);   // pretty, atomic (temporary name, fsync, rename)
void json_append_line(const char *path, const cJSON *j);  // one compact line
void json_print_line(const cJSON *j);                     // one compact line on stdout (results)
// x as printf's format fmt ("%.6g") shows it, read back: results carry the digits they mean, not float noise.
double json_rounded(double x, const char *fmt);
// Keeps the lines of a JSON-lines file whose "step" is at most `step` (and lines without a step), drops
// the rest and any line cut short (no newline, not valid JSON); rewrites the file atomically only when
// something is dropped. On --resume: the steps after the checkpoint are redone, so their lines go.
void json_lines_keep_through(const char *path, double step);
// The number under `key` on the first line whose "step" is `step`: 1 and *out set, or 0 (no file, no line).
int json_lines_number(const char *path, double step, const char *key, double *out);
