// bench_memory.c: activation memory (the step arena's peak) and time of one masked-LM
// forward+backward, at L = 128, 1024 and 4096, for BiGS and BERT of the same size (the grid configs:
// H=256, NL=4, about 11.4M parameters), batch 1, 15% of positions masked. SSM routing must grow
// linearly in L; attention stores (NH, L, L) probabilities per layer and grows quadratically.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/model.h"

static void run(const char *config, const char *label, int L) {
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
    Tape tp;
    tape_init(&tp, 0);
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        tape_reset(&tp);
        double t0 = now_seconds();
        Tensor *loss = model_mlm(&m, &tp, &b, labels, NULL, NULL);
        tape_backward(&tp, loss, NULL);
        double dt = now_seconds() - t0;
        if (dt < best) best = dt;
    }
    printf("%-24s %6d %12.1f %14.1f %10.1f\n", label, L, tp.arena.peak / 1048576.0, tp.arena.peak / 1024.0 / L, best * 1e3);
    tape_free(&tp);
    model_free(&m);
    free(ids);
    free(labels);
}

int main(void) {
    threads_set(0);
    printf("activation memory of one masked-LM forward+backward, batch 1 (H=256, NL=4, ~11.4M parameters)\n\n");
    printf("%-24s %6s %12s %14s %10s\n", "model", "L", "arena MiB", "KiB per token", "ms (best)");
    const int Ls[3] = {128, 1024, 4096};
    for (int i = 0; i < 3; i++) run("configs/grid-gated-ssm.json", "BiGS (gated+ssm)", Ls[i]);
    for (int i = 0; i < 3; i++) run("configs/grid-stack-attention.json", "BERT (stack+attention)", Ls[i]);
    return 0;
}
