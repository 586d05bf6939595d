// rundir.c: see rundir.h.
#include "train/rundir.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/base/dist.h"
#include "core/base/jsonio.h"
#include "core/base/paths.h"
#include "core/base/rng.h"
#include "train/checkpoint.h"

// What a bigs run writes at the top of its output folder (checkpoint-N/ folders besides).
static const char *const k_run_files[] = {"run.json", "config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                                          "metrics.jsonl", "all_results.json", "eval_results.json", "train_config.json",
                                          ".bigs.lock", NULL};

static int is_run_file(const char *name) {
    long step;
    char tail[8];
    if (sscanf(name, "checkpoint-%ld%7s", &step, tail) >= 1) return 1;  // checkpoint-N and checkpoint-N.tmp
    for (const char *const *f = k_run_files; *f; f++)
        if (!strcmp(name, *f)) return 1;
    return 0;
}

// Does the folder hold a bigs run (its run.json, or the files an earlier bigs run left)? Sets *foreign to
// the number of entries a run does not write and names the first of them.
static int holds_run(const char *dir, int *foreign, char *first, size_t n) {
    DIR *d = opendir(dir);
    int run = 0;
    *foreign = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!strcmp(e->d_name, "run.json") || !strcmp(e->d_name, "train_config.json") || !strcmp(e->d_name, "metrics.jsonl") ||
            !strncmp(e->d_name, "checkpoint-", 11))
            run = 1;
        if (!is_run_file(e->d_name) && (*foreign)++ == 0) snprintf(first, n, "%s", e->d_name);
    }
    closedir(d);
    return run;
}

// --overwrite_output_dir: the earlier run's files go; anything else stays.
static void remove_run_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4400];
    int removed = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".bigs.lock") || !is_run_file(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove_tree(path) != 0) fatal("%s: cannot remove it (--overwrite_output_dir)", path);
        removed++;
    }
    closedir(d);
    log_info("note: --overwrite_output_dir: removed the %d files and folders of the earlier run in %s", removed, dir);
}

static void read_run_id(const char *dir, char *run_id, size_t n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", dir);
    run_id[0] = 0;
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "run_id");
    if (cJSON_IsString(id)) snprintf(run_id, n, "%s", id->valuestring);
    cJSON_Delete(j);
    free(text);
}

static void write_run_json(const char *dir, const RunDirOpts *o, char *run_id, size_t n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t id = rng_mix((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, (uint64_t)getpid());
    snprintf(run_id, n, "%016llx", (unsigned long long)id);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "run_id", run_id);
    cJSON_AddStringToObject(j, "command", o->command);
    cJSON_AddNumberToObject(j, "started", (double)ts.tv_sec);
    for (int i = 0; i < o->ninputs; i++)
        if (o->inputs[i]) cJSON_AddStringToObject(j, o->input_flags[i] + 2, o->inputs[i]);
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", dir);
    json_write_file(path, j);
    cJSON_Delete(j);
}

// A run that fails before it writes anything leaves no trace: at exit, a folder that holds only the run's
// run.json and lock loses them (and is removed when the run created it).
static struct { char dir[4096]; int created; } g_run;

static void rundir_cleanup(void) {
    if (!g_run.dir[0]) return;
    int foreign;
    char first[256], path[4200];
    holds_run(g_run.dir, &foreign, first, sizeof first);
    int entries = dir_entries(g_run.dir, NULL, 0);
    snprintf(path, sizeof path, "%s/run.json", g_run.dir);
    int has_run = path_exists(path);
    if (entries != 1 + has_run) return;  // the lock, run.json and nothing else
    unlink(path);
    snprintf(path, sizeof path, "%s/.bigs.lock", g_run.dir);
    unlink(path);
    if (g_run.created) rmdir(g_run.dir);
}

void rundir_prepare(const char *out, const RunDirOpts *o, char *run_id, size_t n) {
    char err[4600], first[256] = "";
    for (int i = 0; i < o->ninputs; i++)
        if (o->inputs[i] && path_same(out, o->inputs[i]))
            fatal("--output %s is the folder the run reads (%s %s): a run never writes into its input; choose another --output", out,
                        o->input_flags[i], o->inputs[i]);
    if (path_exists(out) && !path_is_dir(out)) fatal("--output %s: exists and is not a folder (a run writes a folder)", out);
    run_id[0] = 0;
    if (dist_lead()) {
        int existed = path_exists(out);
        if (path_mkdirs(out, err, sizeof err)) fatal("%s", err);
        if (!existed) {
            snprintf(g_run.dir, sizeof g_run.dir, "%s", out);
            g_run.created = 1;
            atexit(rundir_cleanup);
        }
        if (dir_lock(out, "writing to", err, sizeof err)) fatal("%s", err);
        if (existed) {
            snprintf(g_run.dir, sizeof g_run.dir, "%s", out);
            atexit(rundir_cleanup);
        }
        int foreign, run = holds_run(out, &foreign, first, sizeof first);
        int entries = dir_entries(out, NULL, 0) - 1;  // the lock file is ours
        if (o->resume && run) read_run_id(out, run_id, n);
        else if (o->resume && entries > 0 && !o->overwrite)
            fatal("--resume: --output %s holds no bigs run (it holds %d entries, e.g. %s): give the run's folder", out, entries, first);
        else if (entries > 0 && !o->overwrite)
            fatal("--output %s is not empty (it holds %d entries%s%s): continue the run there with --resume, write over an earlier "
                        "run with --overwrite_output_dir, or choose another --output", out, entries, first[0] ? ", e.g. " : "", first);
        else if (entries > 0 && foreign)
            fatal("--output %s holds %d entries a bigs run does not write (e.g. %s): --overwrite_output_dir removes only an earlier "
                        "run's files; choose another --output", out, foreign, first);
        else if (entries > 0) remove_run_files(out);
        if (!(o->resume && run)) write_run_json(out, o, run_id, n);
    }
    dist_bcast(run_id, n, 0);  // every process resumes the same run
    dist_barrier();
}
