// progress.c: see progress.h.
#include "core/base/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "core/base/common.h"

void progress_start(Progress *p, const char *what, const char *unit, long total) {
    *p = (Progress){what, unit, total, now_seconds(), 0, isatty(2), 0, 0};
}

static void fmt_eta(char *out, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (s < 0 || s > 1e8) snprintf(out, n, "?");
    else if (t >= 3600) snprintf(out, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(out, n, "%lds", t);
}

void progress_update(Progress *p, long done) {
    if (g_quiet || p->total <= 0) return;
    double now = now_seconds(), el = now - p->t0;
    int tenth = (int)(10 * done / p->total);
    if (p->tty ? now - p->last < 0.5 && done < p->total : tenth <= p->tenth && done < p->total) return;
    if (el < 1.0 && done < p->total) return;  // short work shows nothing
    p->last = now;
    p->tenth = tenth;
    char eta[32];
    fmt_eta(eta, sizeof eta, done > 0 ? el / done * (p->total - done) : -1);
    fprintf(stderr, "%s%s: %ld/%ld %s (%.0f%%) | %.1f %s/s | ETA %s%s", p->tty ? "\r" : "", p->what, done, p->total, p->unit,
            100.0 * done / p->total, done / (el > 0 ? el : 1), p->unit, eta, p->tty ? "   " : "\n");
    fflush(stderr);
    p->shown = 1;
}

void progress_end(Progress *p) {
    if (p->shown && p->tty && !g_quiet) fputc('\n', stderr);
    p->shown = 0;
}
