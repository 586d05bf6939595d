// checkpoint.c: atomic checkpoint folders (see checkpoint.h).
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/formats/safetensors.h"

int remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    struct dirent *e;
    char child[4096];
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat sb;
        if (lstat(child, &sb) == 0 && S_ISDIR(sb.st_mode)) rc |= remove_tree(child);
        else rc |= unlink(child);
    }
    closedir(d);
    return rc | rmdir(path);
}

static int fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

// Removes a checkpoint folder, trainer_state.json (what marks it complete, see ckpt_latest) first: a
// removal cut short by a crash leaves a folder that resume skips, never one that looks complete.
static int ckpt_remove(const char *path) {
    char state[4200];
    snprintf(state, sizeof state, "%s/trainer_state.json", path);
    if (unlink(state) == 0) fsync_path(path);
    return remove_tree(path);
}

// checkpoint-<N> folders of dir, as steps, sorted ascending; returns the count.
static int list_steps(const char *dir, long *steps, int max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long s;
        char tail;
        if (sscanf(e->d_name, "checkpoint-%ld%c", &s, &tail) == 1 && n < max) steps[n++] = s;
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) { long t = steps[j]; steps[j] = steps[j - 1]; steps[j - 1] = t; }
    return n;
}

void ckpt_rotate(const char *out_dir, int keep) {
    long steps[4096];
    char path[4400];
    int cnt = list_steps(out_dir, steps, 4096);
    for (int i = 0; i + keep < cnt; i++) {
        snprintf(path, sizeof path, "%s/checkpoint-%ld", out_dir, steps[i]);
        if (ckpt_remove(path) != 0) log_warn("could not remove the old checkpoint %s", path);
    }
}

int ckpt_save(const char *out_dir, long step, const Model *m, const AdamW *opt, const cJSON *state,
              const char *vocab_src, int keep, char *err, size_t n) {
    char final[4096], tmp[4200], path[4400];
    snprintf(final, sizeof final, "%s/checkpoint-%ld", out_dir, step);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    remove_tree(tmp);  // leftovers of an interrupted save
    if (mkdir(tmp, 0755) != 0) { snprintf(err, n, "%s: cannot create: %s", tmp, strerror(errno)); return -1; }
    // on any error below the unfinished folder is removed: a full disk gets its space back
    if (model_save_dir_err(m, tmp, vocab_src, err, n)) goto fail;
    test_kill_point("save", step);  // the model written, the moments and the state not yet
    // the moments, named after the parameters so a changed model is detected on resume
    const ParamTable *pt = &m->pt;
    StWrite *w = xcalloc(2 * (size_t)pt->n, sizeof(StWrite));
    char **names = xcalloc(2 * (size_t)pt->n, sizeof(char *));
    for (int i = 0; i < pt->n; i++)
        for (int k = 0; k < 2; k++) {
            int j = 2 * i + k;
            size_t len = strlen(pt->info[i].name) + 16;
            names[j] = xmalloc(len);
            snprintf(names[j], len, "%s.%s", k ? "exp_avg_sq" : "exp_avg", pt->info[i].name);
            w[j].name = names[j];
            w[j].dtype = DT_F32;
            w[j].ndim = pt->info[i].ndim;
            for (int d = 0; d < w[j].ndim; d++) w[j].shape[d] = pt->info[i].shape[d];
            w[j].data = (k ? opt->v : opt->m) + pt->info[i].offset;
        }
    char stepbuf[32];
    snprintf(stepbuf, sizeof stepbuf, "%ld", opt->step);
    const char *meta[] = {"adamw_step", stepbuf};
    snprintf(path, sizeof path, "%s/optimizer.safetensors", tmp);
    int rc = st_write(path, w, 2 * pt->n, meta, 1, err, n);
    for (int j = 0; j < 2 * pt->n; j++) free(names[j]);
    free(names);
    free(w);
    if (rc) goto fail;
    char *text = cJSON_Print(state);
    snprintf(path, sizeof path, "%s/trainer_state.json", tmp);
    rc = file_write_atomic(path, text, strlen(text));
    free(text);
    if (rc) { snprintf(err, n, "%s: cannot write: %s", path, strerror(errno)); goto fail; }
    // the folder's entries, then the rename, then the parent
    if (fsync_path(tmp) != 0) { snprintf(err, n, "%s: fsync failed: %s", tmp, strerror(errno)); goto fail; }
    ckpt_remove(final);  // a checkpoint of the same step from an earlier run is replaced whole
    if (rename(tmp, final) != 0) { snprintf(err, n, "cannot rename %s to %s: %s", tmp, final, strerror(errno)); goto fail; }
    if (fsync_path(out_dir) != 0) { snprintf(err, n, "%s: fsync failed: %s", out_dir, strerror(errno)); return -1; }
    test_kill_point("rotate", step);  // the new checkpoint in place, the old ones not yet removed
    ckpt_rotate(out_dir, keep);
    return 0;
fail:
    if (remove_tree(tmp) != 0) log_warn("could not remove the unfinished checkpoint %s", tmp);
    return -1;
}

char *ckpt_latest(const char *out_dir) {
    long steps[4096];
    int cnt = list_steps(out_dir, steps, 4096);
    for (int i = cnt - 1; i >= 0; i--) {
        char path[4096], state[4200];
        snprintf(path, sizeof path, "%s/checkpoint-%ld", out_dir, steps[i]);
        snprintf(state, sizeof state, "%s/trainer_state.json", path);
        struct stat sb;
        if (stat(state, &sb) == 0) return xstrdup(path);  // complete: renamed into place after its last file
    }
    return NULL;
}

int ckpt_load_optimizer(const char *ckpt_dir, const Model *m, AdamW *opt, cJSON **state, char *err, size_t n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", ckpt_dir);
    StFile f;
    if (st_open(&f, path, err, n)) return -1;
    const ParamTable *pt = &m->pt;
    for (int i = 0; i < pt->n; i++)
        for (int k = 0; k < 2; k++) {
            char name[PARAM_NAME_MAX + 16];
            snprintf(name, sizeof name, "%s.%s", k ? "exp_avg_sq" : "exp_avg", pt->info[i].name);
            const StTensor *t = st_find(&f, name);
            if (!t || t->numel != pt->info[i].numel || t->dtype != DT_F32) {
                snprintf(err, n, "%s: %s is missing or has the wrong size (was the model changed?)", path, name);
                st_close(&f);
                return -1;
            }
            st_to_f32(&f, t, (k ? opt->v : opt->m) + pt->info[i].offset);
        }
    const char *s = st_meta(&f, "adamw_step");
    opt->step = s ? atol(s) : 0;
    st_close(&f);
    snprintf(path, sizeof path, "%s/trainer_state.json", ckpt_dir);
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) { snprintf(err, n, "%s: cannot read: %s", path, e); return -1; }
    *state = cJSON_ParseWithLength(text, len);
    free(text);
    if (!*state) { snprintf(err, n, "%s: not valid JSON", path); return -1; }
    return 0;
}

static volatile sig_atomic_t g_stop_signal = 0;
static void on_stop_signal(int sig) { g_stop_signal = sig; }

void stop_signals_install(void) {
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
}

int stop_signal_received(void) { return (int)g_stop_signal; }
void stop_signal_set(int sig) { g_stop_signal = sig; }
