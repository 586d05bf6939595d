// jsonio.h: JSON files for configs and results: read (fatal with the line of a syntax error), written
// atomically, or appended as one line (metrics.jsonl).
#pragma once
#include <cjson/cJSON.h>

cJSON *json_read_file(const char *path);                  // fatal: "path:LINE: not valid JSON"
void json_write_file(const char *path, const cJSON *j);   // pretty, atomic (temporary name, fsync, rename)
void json_append_line(const char *path, const cJSON *j);  // one compact line
