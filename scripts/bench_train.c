// bench_train.c: training-step and inference throughput of one model config (the bigs side of the
// speed comparison): tokens/s of forward+backward+AdamW and of forward alone, medians of several steps.
// Usage: build/bench_train CONFIG L BATCH [steps] [--bf16] [--profile | --profile-infer]
// --bf16 runs the products in bf16 (train.bf16); --profile prints the time per op type (forward and
// backward) and of the optimizer, per training step; --profile-infer the time per op type of the
// inference passes (training is then not timed). The JSON line also gives the GFLOP of the products
// (gemm_mac_count) in one training step (forward and backward) and in one inference pass: scripts/bench.py
// divides them by the cores' arithmetic peak for the fastest each could run.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/base/common.h"
#include "core/engine/gemm.h"
#include "core/model/model.h"
#include "core/engine/ops.h"
#include "core/engine/tape.h"
#include "train/optim.h"

static int cmp_d(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;  // KiB on Linux
}

// the wait policy of `bigs` itself (passive unless the environment says otherwise), so that the model
// step is timed as the commands run it
__attribute__((section(".preinit_array"), used)) static void (*const wait_policy_at_load)(int, char **, char **) =
    omp_wait_policy_default;

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s CONFIG L BATCH [steps] [--bf16] [--profile | --profile-infer]\n", argv[0]); return 2; }
    int L = atoi(argv[2]), B = atoi(argv[3]), steps = argc > 4 && argv[4][0] != '-' ? atoi(argv[4]) : 5;
    int profile = 0, bf16 = 0, pinfer = 0;
    for (int i = 4; i < argc; i++) {
        profile |= !strcmp(argv[i], "--profile");
        pinfer |= !strcmp(argv[i], "--profile-infer");
        bf16 |= !strcmp(argv[i], "--bf16");
    }
    if (bf16) ops_require_bf16("--bf16");
    if (steps < 1 || steps > 64) { fprintf(stderr, "steps must be 1..64\n"); return 2; }
    threads_set(0);
    ModelConfig c;
    config_load_path(&c, argv[1]);
    if (c.max_position_embeddings < L) c.max_position_embeddings = L;
    c.hidden_dropout_prob = 0;
    c.attention_probs_dropout_prob = 0;
    Model m;
    model_build(&m, &c, HEAD_MLM);
    params_alloc_grad(&m.pt);
    model_init_weights(&m, 1);
    AdamW opt;
    adamw_init(&opt, &m.pt, 1);
    int32_t *ids = xmalloc(sizeof(int32_t) * B * L), *labels = xmalloc(sizeof(int32_t) * B * L);
    long npred = 0;
    for (int i = 0; i < B * L; i++) {
        ids[i] = 1000 + (i * 37) % 20000;
        labels[i] = i % 7 == 3 ? ids[i] : -100;  // ~15% of positions predicted
        npred += labels[i] != -100;
    }
    Batch b = {B, L, ids, NULL, NULL};
    Tape tp;
    tape_init(&tp, 0);
    double tt[64], ti[64], t_opt = 0;
    uint64_t macs_train = 0, macs_infer = 0;  // multiply-adds of the products in one step / one inference pass
    for (int s = 0; s <= steps; s++) {
        if (profile && s == 1) tape_profile_enable(1);  // step 0 warms up
        if (pinfer && s == 1) tape_profile_enable(2);
        double t0 = now_seconds();
        uint64_t c0 = gemm_mac_count();
        tape_reset(&tp);
        tp.no_grad = 0;
        params_zero_grad(&m.pt);
        Tensor *loss = model_mlm(&m, &tp, &b, labels, NULL, NULL);
        tape_backward(&tp, loss, NULL);
        double t_o = now_seconds();
        macs_train = gemm_mac_count() - c0;
        grad_clip(&m.pt, 1.0);
        adamw_step(&opt, &m.pt, 1e-4, 0.9, 0.98, 1e-6, 0.01);
        double t1 = now_seconds();
        if (s > 0) t_opt += t1 - t_o;
        if (profile && s == steps) {
            tape_profile_print();
            fprintf(stderr, "profile                          %-13s %8s %11.2f  (zero grad excluded)\n", "clip+adamw", "",
                    1e3 * t_opt / steps);
            tape_profile_enable(0);
        }
        tape_reset(&tp);
        tp.no_grad = 1;
        c0 = gemm_mac_count();
        if (!profile) model_mlm(&m, &tp, &b, labels, NULL, NULL);  // the profile is of training steps
        double t2 = now_seconds();
        macs_infer = gemm_mac_count() - c0;
        if (pinfer && s == steps) tape_profile_print();
        if (s > 0) { tt[s - 1] = t1 - t0; ti[s - 1] = t2 - t1; }  // step 0 warms up
    }
    qsort(tt, (size_t)steps, sizeof(double), cmp_d);
    qsort(ti, (size_t)steps, sizeof(double), cmp_d);
    // model FLOPs of a training step: 6 per weight per token for the encoder's dense layers, plus the
    // MLM head at the predicted positions (6 * (H*H + H*V) each)
    long enc = 0;
    for (int i = 0; i < m.pt.n; i++)
        if (strstr(m.pt.info[i].name, ".encoder.layer.") && m.pt.info[i].ndim == 2 && !strstr(m.pt.info[i].name, "kernel.C")) enc += m.pt.info[i].numel;
    double H = c.hidden_size, V = c.vocab_size;
    double flops = 6.0 * enc * B * L + 6.0 * npred * (H * H + H * V);
    double med_t = tt[steps / 2], med_i = ti[steps / 2];
    double infer_tps = profile ? 0.0 : B * L / med_i;  // --profile times training only: 0, not measured
    printf("{\"config\": \"%s\", \"L\": %d, \"batch\": %d, \"threads\": %d, \"train_tokens_per_sec\": %.1f, \"infer_tokens_per_sec\": %.1f, "
           "\"train_step_ms\": %.1f, \"model_gflops_per_sec\": %.2f, \"arena_peak_mib\": %.1f, \"peak_rss_mib\": %.1f, "
           "\"gemm\": \"%s\", \"bf16\": %s, \"train_product_gflop\": %.4f, \"infer_product_gflop\": %.4f}\n",
           argv[1], L, B, threads_get(), B * L / med_t, infer_tps, med_t * 1e3, flops / med_t / 1e9, tp.arena.peak / 1048576.0, peak_rss_mib(), gemm_engine(),
           bf16 ? "true" : "false", 2e-9 * (double)macs_train, profile ? 0.0 : 2e-9 * (double)macs_infer);
    return 0;
}
