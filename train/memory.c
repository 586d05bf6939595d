// memory.c: see memory.h.
#include "train/memory.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/base/common.h"
#include "data/mlm.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

void memory_step(const ModelConfig *c, HeadType head, int B, int L, int C, double mlm_prob, int max_pred, StepMemory *out) {
    Model m;
    model_build_dry(&m, c, head);
    int R = head == HEAD_MC ? B * C : B;  // rows
    int32_t *ids = xcalloc((size_t)R * L, sizeof(int32_t)), *mask = xmalloc(sizeof(int32_t) * (size_t)R * L);
    int32_t *labels = xmalloc(sizeof(int32_t) * (size_t)R * L), *cls = xcalloc((size_t)B + 1, sizeof(int32_t));
    float *targets = xcalloc((size_t)B + 1, sizeof(float));
    int n = (int)lround(L * mlm_prob);  // the masked positions of a full sequence, as mlm.c draws them
    if (n < 1) n = 1;
    if (n > max_pred) n = max_pred;
    for (long i = 0; i < (long)R * L; i++) {
        mask[i] = 1;
        labels[i] = i % L >= 1 && i % L <= n ? 0 : -100;
    }
    Tape tp;
    tape_init(&tp, 0);
    tape_dry(&tp);
    tp.training = 1;
    Batch b = {R, L, ids, NULL, mask};
    Tensor *loss = head == HEAD_MLM ? model_mlm(&m, &tp, &b, labels, NULL, NULL)
                   : head == HEAD_SEQCLS ? model_classify(&m, &tp, &b, cls, targets, NULL)
                                         : model_multiple_choice(&m, &tp, &b, C, cls, NULL);
    tape_backward(&tp, loss, NULL);
    memset(out, 0, sizeof *out);
    out->params = 4.0 * (double)m.pt.size;
    out->grads = out->params;
    out->optimizer = 2 * out->params;
    out->activations = (double)tp.arena.peak;
    // the batch buffers, the loader's blocks, FFT plans and scratch, the libraries: measured at about
    // 60-100 MiB for small models here
    out->overhead = 128.0 * 1024 * 1024 + 16.0 * R * L;
    out->total = out->params + out->grads + out->optimizer + out->activations + out->overhead;
    tape_free(&tp);
    model_free(&m);
    free(ids), free(mask), free(labels), free(cls), free(targets);
}

static double read_number(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[64] = "";
    double v = -1;
    if (fgets(buf, sizeof buf, f) && strncmp(buf, "max", 3)) v = atof(buf);
    fclose(f);
    return v;
}

double memory_available(void) {
    double avail = 1e30;
    const char *cap = getenv("BIGS_TEST_MEMORY_AVAILABLE");  // test hook: a smaller machine (a limit ASan can live with)
    if (cap) avail = atof(cap);
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        double kb;
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1 && kb * 1024 < avail) avail = kb * 1024;
    }
    if (f) fclose(f);
    double limit = read_number("/sys/fs/cgroup/memory.max"), used = read_number("/sys/fs/cgroup/memory.current");
    if (limit > 0 && used >= 0 && limit - used < avail) avail = limit - used;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        long pages = 0;
        FILE *s = fopen("/proc/self/statm", "r");
        if (s && fscanf(s, "%ld", &pages) != 1) pages = 0;
        if (s) fclose(s);
        double room = (double)rl.rlim_cur - (double)pages * (double)sysconf(_SC_PAGESIZE);
        if (room < avail) avail = room;
    }
    return avail > 0 ? avail : 0;
}

void memory_check(const StepMemory *s, double held, int B, int L, const char *what) {
    double need = s->total - held, avail = memory_available();
    if (need <= 0.95 * avail) return;
    fatal("%s: a training step needs about %.1f GiB (parameters %.1f, their gradients %.1f, the AdamW moments %.1f, activations for "
          "%d x %d tokens %.1f, other %.1f) and %.1f GiB of it is not allocated yet, but only %.1f GiB is available: lower "
          "train.per_device_train_batch_size (raising gradient_accumulation_steps keeps the batch) or train.max_seq_length, or use a "
          "smaller model (bigs info CONFIG --batch B --seq-len L estimates a setting; --force runs anyway)", what, s->total / GIB,
          s->params / GIB, s->grads / GIB, s->optimizer / GIB, B, L, s->activations / GIB, s->overhead / GIB, need / GIB, avail / GIB);
}
