// test_train_parity.c: 5 optimizer steps of a tiny BiGS in C against the PyTorch reference with
// torch.optim.AdamW, the same warmup+cosine schedule and clipping (tests/golden/train5.safetensors,
// scripts/gen_train_golden.py); and a tiny model memorising one batch.
#include <string.h>

#include "core/base/common.h"
#include "core/model/model.h"
#include "core/formats/safetensors.h"
#include "train/optim.h"
#include "tests/test.h"

static int32_t *ints(const StFile *f, const char *name, long *n) {
    const StTensor *t = st_find(f, name);
    if (!t) return NULL;
    int64_t *tmp = xmalloc(sizeof(int64_t) * (size_t)t->numel);
    st_to_i64(f, t, tmp);
    int32_t *o = xmalloc(sizeof(int32_t) * (size_t)t->numel);
    for (long i = 0; i < t->numel; i++) o[i] = (int32_t)tmp[i];
    free(tmp);
    if (n) *n = t->numel;
    return o;
}

TEST(train_steps_match_pytorch) {
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/golden/train5.safetensors", test_data_dir());
    StFile f;
    if (st_open(&f, path, err, sizeof err)) { CHECKF(0, "%s", err); return; }
    ModelConfig c;
    config_defaults(&c);
    cJSON *cj = cJSON_Parse(st_meta(&f, "config")), *hp = cJSON_Parse(st_meta(&f, "train"));
    CHECK(config_from_json(&c, cj, path, err, sizeof err) == 0);
    Model m;
    model_build(&m, &c, HEAD_MLM);
    params_alloc_grad(&m.pt);
    for (int i = 0; i < m.pt.n; i++) {
        char name[PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "init.%s", m.pt.info[i].name);
        const StTensor *t = st_find(&f, name);
        CHECKF(t != NULL, "missing %s", name);
        if (t) st_to_f32(&f, t, m.pt.t[i].data);
    }
#define HPV(k) cJSON_GetObjectItem(hp, k)->valuedouble
    AdamW opt;
    adamw_init(&opt, &m.pt, 1);
    float losses[5], want[5];
    st_to_f32(&f, st_find(&f, "losses"), want);
    Tape tp;
    tape_init(&tp, 1 << 20);
    int steps = (int)HPV("max_steps");
    for (int s = 0; s < steps; s++) {
        char n1[64], n2[64], n3[64];
        snprintf(n1, sizeof n1, "batch%d.input_ids", s);
        snprintf(n2, sizeof n2, "batch%d.attention_mask", s);
        snprintf(n3, sizeof n3, "batch%d.labels", s);
        const StTensor *ti = st_find(&f, n1);
        int32_t *ids = ints(&f, n1, NULL), *mask = ints(&f, n2, NULL), *labels = ints(&f, n3, NULL);
        Batch b = {(int)ti->shape[0], (int)ti->shape[1], ids, NULL, mask};
        tape_reset(&tp);
        params_zero_grad(&m.pt);
        Tensor *loss = model_mlm(&m, &tp, &b, labels, NULL, NULL);
        tape_backward(&tp, loss, NULL);
        losses[s] = loss->data[0];
        grad_clip(&m.pt, HPV("max_grad_norm"));
        double lr = HPV("learning_rate") * lr_factor(SCHED_COSINE, s, (long)HPV("warmup_steps"), steps, HPV("min_lr_ratio"));
        adamw_step(&opt, &m.pt, lr, HPV("adam_beta1"), HPV("adam_beta2"), HPV("adam_epsilon"), HPV("weight_decay"));
        free(ids); free(mask); free(labels);
    }
    CHECK_CLOSE("losses of the 5 steps", losses, want, steps, 0, 1e-4);
    int nchecked = 0;
    for (int i = 0; i < m.pt.n; i++) {
        char name[PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "final.%s", m.pt.info[i].name);
        const StTensor *t = st_find(&f, name);
        float *w = xmalloc(sizeof(float) * (size_t)m.pt.info[i].numel);
        if (t && !st_to_f32(&f, t, w)) {
            double mx = 0;
            for (long k = 0; k < t->numel; k++) mx = fmax(mx, fabs(w[k]));
            // 1e-4 relative, against the tensor's scale for elements that are nearly 0
            CHECK_CLOSE(name, m.pt.t[i].data, w, t->numel, 1e-5 * mx, 1e-4);
            nchecked++;
        }
        free(w);
    }
    CHECK_EQ_INT(nchecked, m.pt.n);
    cJSON_Delete(cj);
    cJSON_Delete(hp);
    tape_free(&tp);
    adamw_free(&opt);
    model_free(&m);
    st_close(&f);
}

TEST(tiny_model_memorises_a_batch) {
    ModelConfig c;
    config_defaults(&c);
    c.vocab_size = 64, c.hidden_size = 32, c.num_hidden_layers = 2, c.intermediate_size = 64, c.num_ssm = 8;
    c.max_position_embeddings = 16, c.hidden_dropout_prob = 0;
    Model m;
    model_build(&m, &c, HEAD_MLM);
    params_alloc_grad(&m.pt);
    model_init_weights(&m, 4);
    AdamW opt;
    adamw_init(&opt, &m.pt, 1);
    int B = 4, L = 16;
    int32_t ids[64], labels[64];
    for (int i = 0; i < B * L; i++) {
        int tok = 5 + (i * 13 + i / L) % 50;
        labels[i] = i % 4 == 1 ? tok : -100;
        ids[i] = labels[i] == -100 ? tok : 3;  // masked positions show a [MASK]-like id 3
    }
    Batch b = {B, L, ids, NULL, NULL};
    Tape tp;
    tape_init(&tp, 1 << 20);
    float first = 0, last = 0;
    for (int s = 0; s < 300; s++) {
        tape_reset(&tp);
        params_zero_grad(&m.pt);
        Tensor *loss = model_mlm(&m, &tp, &b, labels, NULL, NULL);
        tape_backward(&tp, loss, NULL);
        if (s == 0) first = loss->data[0];
        last = loss->data[0];
        grad_clip(&m.pt, 1.0);
        adamw_step(&opt, &m.pt, 1e-2, 0.9, 0.98, 1e-6, 0.0);
    }
    CHECKF(first > 3.5 && last < 0.05, "loss %g -> %g: the batch was not memorised", first, last);
    tape_free(&tp);
    adamw_free(&opt);
    model_free(&m);
}
