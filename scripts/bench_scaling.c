// bench_scaling.c: how time and memory grow with sequence length. For BiGS and BERT of the same size
// (configs/grid-gated-ssm.json and grid-stack-attention.json: H=256, NL=4, about 11.4M parameters),
// batch 1, masked-LM head at 15% of positions: time per token and activation memory (the arena's peak)
// of the forward pass alone and of forward+backward, at L = 512 ... 4096 (BiGS also 8192 and 16384).
// Usage: bench_scaling [OUT.jsonl [L ...]]: the figures also go to OUT.jsonl as JSON lines (for the plot),
// and the lengths can be given (BERT runs only up to 4096).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"
#include "core/model/model.h"

typedef struct { double fwd_us, fwdbwd_us, fwd_mib, fwdbwd_mib; } Point;

static Point measure(const char *config, int L) {
    ModelConfig c;
    config_load_path(&c, config);
    c.max_position_embeddings = L;
    c.hidden_dropout_prob = 0;
    c.attention_probs_dropout_prob = 0;
    Model m;
    model_build(&m, &c, HEAD_MLM);
    params_alloc_grad(&m.pt);
    model_init_weights(&m, 1);
    int32_t *ids = xmalloc(sizeof(int32_t) * L), *labels = xmalloc(sizeof(int32_t) * L);
    for (int i = 0; i < L; i++) {
        ids[i] = 1000 + (i * 37) % 20000;
        labels[i] = i % 7 == 3 ? ids[i] : -100;
    }
    Batch b = {1, L, ids, NULL, NULL};
    Point p = {1e30, 1e30, 0, 0};
    for (int pass = 0; pass < 2; pass++) {  // forward only, then forward+backward
        Tape tp;
        tape_init(&tp, 0);
        tp.no_grad = pass == 0;
        int reps = L >= 8192 ? 2 : 3;
        for (int r = 0; r < reps; r++) {
            tape_reset(&tp);
            double t0 = now_seconds();
            Tensor *loss = model_mlm(&m, &tp, &b, labels, NULL, NULL);
            if (pass) tape_backward(&tp, loss, NULL);
            double us = (now_seconds() - t0) * 1e6 / L;
            if (pass == 0 && us < p.fwd_us) p.fwd_us = us;
            if (pass == 1 && us < p.fwdbwd_us) p.fwdbwd_us = us;
        }
        if (pass == 0) p.fwd_mib = tp.arena.peak / 1048576.0;
        else p.fwdbwd_mib = tp.arena.peak / 1048576.0;
        tape_free(&tp);
    }
    model_free(&m);
    free(ids);
    free(labels);
    return p;
}

int main(int argc, char **argv) {
    threads_set(0);
    FILE *js = argc > 1 && strcmp(argv[1], "-") ? fopen(argv[1], "w") : NULL;
    printf("time per token (best of 2-3) and activation memory, batch 1, H=256, NL=4, %d threads\n\n", threads_get());
    printf("%-6s %-6s %14s %14s %14s %14s\n", "model", "L", "fwd us/token", "fwd MiB", "f+b us/token", "f+b MiB");
    int Ls[16] = {512, 1024, 2048, 4096, 8192, 16384}, nL = 6;
    if (argc > 2) {
        nL = 0;
        for (int i = 2; i < argc && nL < 16; i++) Ls[nL++] = atoi(argv[i]);
    }
    const char *names[2] = {"BiGS", "BERT"}, *configs[2] = {"configs/grid-gated-ssm.json", "configs/grid-stack-attention.json"};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < nL; i++) {
            if (k == 1 && Ls[i] > 4096) continue;  // attention's L^2 probabilities: 4096 is where the baselines stop
            Point p = measure(configs[k], Ls[i]);
            printf("%-6s %-6d %14.1f %14.1f %14.1f %14.1f\n", names[k], Ls[i], p.fwd_us, p.fwd_mib, p.fwdbwd_us, p.fwdbwd_mib);
            fflush(stdout);
            if (js) fprintf(js, "{\"model\": \"%s\", \"L\": %d, \"fwd_us_per_token\": %.2f, \"fwd_mib\": %.1f, \"fwdbwd_us_per_token\": %.2f, \"fwdbwd_mib\": %.1f}\n",
                            names[k], Ls[i], p.fwd_us, p.fwd_mib, p.fwdbwd_us, p.fwdbwd_mib);
        }
    if (js) fclose(js);
    return 0;
}
