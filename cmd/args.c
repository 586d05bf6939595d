// args.c: flag parsing for the subcommands (see args.h).
#include "cmd/args.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"
#include "core/model/config.h"
#include "train/train_config.h"

void args_init(Args *a, int argc, char **argv, const char *usage) {
    a->usage = usage;
    a->argc = argc;
    a->argv = argv;
    a->used = xcalloc((size_t)argc + 1, 1);
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
    }
}

void args_usage_error(Args *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bigs: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n\n%s", a->usage);
    va_end(ap);
    exit(2);
}

// Finds occurrence number `nth` of --flag; returns its value (or "" for booleans when want_value=0).
static const char *find(Args *a, const char *flag, int want_value, int nth) {
    size_t n = strlen(flag);
    int seen = 0;
    for (int i = 0; i < a->argc; i++) {
        const char *s = a->argv[i];
        if (strncmp(s, flag, n) != 0) continue;
        if (s[n] == '=') {
            if (!want_value) args_usage_error(a, "%s takes no value", flag);
            if (seen++ < nth) continue;
            a->used[i] = 1;
            return s + n + 1;
        }
        if (s[n] != 0) continue;
        if (seen++ < nth) { if (want_value) i++; continue; }
        a->used[i] = 1;
        if (!want_value) return "";
        if (i + 1 >= a->argc) args_usage_error(a, "%s needs a value", flag);
        a->used[i + 1] = 1;
        return a->argv[i + 1];
    }
    return NULL;
}

const char *args_str(Args *a, const char *flag, const char *def) {
    const char *v = NULL, *w;
    for (int k = 0; (w = find(a, flag, 1, k)); k++) v = w;
    return v ? v : def;
}

long args_int(Args *a, const char *flag, long def) {
    const char *v = args_str(a, flag, NULL);
    if (!v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end != 0) args_usage_error(a, "%s expects an integer, got '%s'", flag, v);
    return x;
}

double args_double(Args *a, const char *flag, double def) {
    const char *v = args_str(a, flag, NULL);
    if (!v) return def;
    char *end;
    double x = strtod(v, &end);
    if (*v == 0 || *end != 0) args_usage_error(a, "%s expects a number, got '%s'", flag, v);
    return x;
}

int args_flag(Args *a, const char *flag) {
    int any = 0;
    for (int k = 0; find(a, flag, 0, k); k++) any = 1;  // every occurrence is consumed
    return any;
}

int args_multi(Args *a, const char *flag, const char **out, int max) {
    int n = 0;
    const char *v;
    for (int k = 0; (v = find(a, flag, 1, k)); k++) {
        if (n == max) args_usage_error(a, "too many %s values (at most %d)", flag, max);
        out[n++] = v;
    }
    // values following the flag that are not flags themselves: "--input a b c"
    for (int i = 0; i < a->argc; i++) {
        if (strcmp(a->argv[i], flag) != 0) continue;
        for (int j = i + 2; j < a->argc && !a->used[j] && strncmp(a->argv[j], "--", 2) != 0; j++) {
            if (n == max) args_usage_error(a, "too many %s values (at most %d)", flag, max);
            a->used[j] = 1;
            out[n++] = a->argv[j];
        }
    }
    return n;
}

const char *args_positional(Args *a) {
    for (int i = 0; i < a->argc; i++) {
        if (a->used[i]) continue;
        if (a->argv[i][0] == '-' && a->argv[i][1] != 0) continue;
        a->used[i] = 1;
        return a->argv[i];
    }
    return NULL;
}

// Flags of Hugging Face's scripts, and the bigs spelling of each.
static const char *const k_hf_flags[][2] = {
    {"--output_dir", "--output DIR"}, {"--model_name_or_path", "--model DIR"}, {"--train_file", "--data DIR"},
    {"--validation_file", "--data DIR"}, {"--task_name", "--task NAME"}, {"--resume_from_checkpoint", "--resume"},
    {"--config_name", "--config FILE"}, {"--do_lower_case", "(the default; --cased for cased vocabularies)"},
};

// Names what an unknown flag may have meant: a training or model key (--set), or Hugging Face's spelling.
static void hint(const char *arg, char *out, size_t n) {
    out[0] = 0;
    if (strncmp(arg, "--", 2)) return;
    char key[128];
    snprintf(key, sizeof key, "%s", arg + 2);
    key[strcspn(key, "=")] = 0;
    for (char *p = key; *p; p++)
        if (*p == '-') *p = '_';
    for (size_t i = 0; i < sizeof k_hf_flags / sizeof k_hf_flags[0]; i++)
        if (!strncmp(arg, k_hf_flags[i][0], strlen(k_hf_flags[i][0]))) { snprintf(out, n, " (bigs spells it %s)", k_hf_flags[i][1]); return; }
    if (train_config_has_key(key)) snprintf(out, n, " (a training key: --set train.%s=VALUE)", key);
    else if (config_has_key(key)) snprintf(out, n, " (a model key: --set model.%s=VALUE)", key);
}

void args_done(Args *a) {
    for (int i = 0; i < a->argc; i++)
        if (!a->used[i]) {
            char h[160];
            hint(a->argv[i], h, sizeof h);
            args_usage_error(a, "unknown argument '%s'%s", a->argv[i], h);
        }
    free(a->used);
    a->used = NULL;
}

void args_common(Args *a) {
    long t = args_int(a, "--threads", 0);
    if (t < 0 || t > 1024) args_usage_error(a, "--threads expects 0..1024 (0 = all cores), got %ld", t);
    threads_set((int)t);
    if (args_flag(a, "--quiet")) g_quiet = 1;
}
