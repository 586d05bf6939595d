// progress.h: a progress line on stderr for long work (evaluation, conversion): done/total, the rate and
// an ETA, redrawn in place on a terminal at most every half second, or a line every 10% otherwise. Silent
// under --quiet and on the processes of a job other than the first.
#pragma once

typedef struct {
    const char *what;    // "eval rte"
    const char *unit;    // "examples"
    long total;
    double t0, last;
    int tty, shown, tenth;
} Progress;

void progress_start(Progress *p, const char *what, const char *unit, long total);
void progress_update(Progress *p, long done);
void progress_end(Progress *p);  // ends the line
