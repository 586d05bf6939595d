// test_model.c: configuration, parameter layout and counts, initialisation, model directories.
// (The end-to-end gradient tests against the PyTorch reference are in test_model_golden.c.)
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/engine/gemm.h"
#include "core/model/model.h"
#include "core/formats/safetensors.h"
#include "tests/test.h"

static ModelConfig tiny(int block, int routing) {
    ModelConfig c;
    config_defaults(&c);
    c.vocab_size = 50;
    c.hidden_size = 16;
    c.num_hidden_layers = 2;
    c.intermediate_size = 24;
    c.num_ssm = 4;
    c.num_attention_heads = 2;
    c.max_position_embeddings = 16;
    c.block = block;
    c.routing = routing;
    return c;
}

TEST(model_official_parameter_count) {
    ModelConfig c;
    config_defaults(&c);  // the official BiGS_128: H=1024, NL=23, I=3072, N=64, V=30522, L=128
    ParamTable pt;
    model_declare(&pt, &c, HEAD_MLM);
    CHECK_EQ_INT(pt.count, 346314134);
    params_free(&pt);
    // BERT-base and -large masked LM, as Hugging Face counts them
    c.model_type[0] = 0;
    c.hidden_size = 768, c.num_hidden_layers = 12, c.num_attention_heads = 12, c.max_position_embeddings = 512;
    c.block = block_index("stack"), c.routing = mixer_index("attention");
    model_declare(&pt, &c, HEAD_MLM);
    CHECK_EQ_INT(pt.count, 109514298);
    params_free(&pt);
}

TEST(model_parameter_names_follow_hugging_face) {
    ModelConfig c = tiny(block_index("gated"), mixer_index("ssm"));
    ParamTable pt;
    model_declare(&pt, &c, HEAD_MLM);
    const char *want[] = {"bigs.embeddings.word_embeddings.weight", "bigs.embeddings.LayerNorm.bias",
                          "bigs.encoder.layer.1.fs4.kernel.A_im", "bigs.encoder.layer.0.bs4.D",
                          "bigs.encoder.layer.0.du_backward.weight", "bigs.encoder.layer.1.do.bias",
                          "cls.predictions.transform.LayerNorm.weight", "cls.predictions.bias"};
    for (int i = 0; i < 8; i++) CHECKF(params_find(&pt, want[i]) >= 0, "missing %s", want[i]);
    CHECK(params_find(&pt, "cls.predictions.decoder.weight") < 0);  // tied to the word embeddings
    int i = params_find(&pt, "bigs.encoder.layer.0.dv.weight");
    CHECK(i >= 0 && pt.info[i].shape[0] == 24 && pt.info[i].shape[1] == 16 && pt.info[i].role.wd == WD_DEFAULT);
    i = params_find(&pt, "bigs.encoder.layer.0.LayerNorm.weight");
    CHECK(i >= 0 && pt.info[i].role.wd == WD_NONE);
    i = params_find(&pt, "bigs.encoder.layer.0.fs4.kernel.log_step");
    CHECK(i >= 0 && pt.info[i].role.wd == WD_SSM);  // the official recipe decays the SSM parameters too
    params_free(&pt);
    c = tiny(block_index("stack"), mixer_index("attention"));
    model_declare(&pt, &c, HEAD_SEQCLS);
    CHECK(params_find(&pt, "bert.encoder.layer.1.attention.self.query.weight") >= 0);
    CHECK(params_find(&pt, "bert.encoder.layer.0.output.LayerNorm.bias") >= 0);
    CHECK(params_find(&pt, "bert.pooler.dense.weight") >= 0 && params_find(&pt, "classifier.bias") >= 0);
    params_free(&pt);
}

TEST(model_hippo_matches_numpy_eigh) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/golden/hippo.safetensors", test_data_dir());
    StFile f;
    CHECKF(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    int Ns[2] = {7, 64};
    for (int k = 0; k < 2; k++) {
        int N = Ns[k];
        char name[32];
        snprintf(name, sizeof name, "A_im.%d", N);
        double got[64];
        float want[64], g32[64];
        ssm_hippo_imag(N, got);
        CHECK(st_to_f32(&f, st_find(&f, name), want) == 0);
        for (int i = 0; i < N; i++) g32[i] = (float)got[i];
        CHECK_CLOSE(name, g32, want, N, 1e-6, 1e-7);
    }
    st_close(&f);
    double v[64];
    ssm_hippo_imag(64, v);
    CHECKF(fabs(v[32] - 0.26386) < 1e-4 && fabs(v[63] - 1303.27) < 0.01, "smallest positive %g, largest %g", v[32], v[63]);
}

TEST(model_init_follows_the_official_recipe) {
    ModelConfig c = tiny(block_index("gated"), mixer_index("ssm"));
    c.hidden_size = 64;
    c.intermediate_size = 256;
    Model m;
    model_build(&m, &c, HEAD_MLM);
    model_init_weights(&m, 1);
    Tensor *w = params_get(&m.pt, "bigs.encoder.layer.0.dv.weight");
    double s = 0, s2 = 0;
    for (long i = 0; i < w->numel; i++) { s += w->data[i]; s2 += w->data[i] * w->data[i]; }
    double sd = sqrt(s2 / w->numel - (s / w->numel) * (s / w->numel));
    CHECKF(fabs(sd - 0.02) < 0.002, "dense std %g", sd);
    CHECK(params_get(&m.pt, "bigs.encoder.layer.0.dv.bias")->data[3] == 0.0f);
    CHECK(params_get(&m.pt, "bigs.encoder.layer.1.LayerNorm.weight")->data[5] == 1.0f);
    CHECK(params_get(&m.pt, "bigs.encoder.layer.1.fs4.D")->data[0] == 1.0f);
    CHECK(params_get(&m.pt, "bigs.encoder.layer.1.bs4.kernel.A_re")->data[2] == -0.5f);
    float ls = params_get(&m.pt, "bigs.encoder.layer.0.fs4.kernel.log_step")->data[0];
    CHECK(ls >= logf(0.01f) && ls <= 0.0f);
    float *ai = params_get(&m.pt, "bigs.encoder.layer.0.fs4.kernel.A_im")->data;
    CHECK(ai[0] < 0 && ai[3] > 0 && fabsf(ai[0] + ai[3]) < 1e-4f);  // +/- pairs
    // fs4 and bs4 draw different C (each parameter has its own stream)
    CHECK(params_get(&m.pt, "bigs.encoder.layer.0.fs4.kernel.C")->data[0] != params_get(&m.pt, "bigs.encoder.layer.0.bs4.kernel.C")->data[0]);
    // the same seed gives the same weights
    Model m2;
    model_build(&m2, &c, HEAD_MLM);
    model_init_weights(&m2, 1);
    CHECK(memcmp(m.pt.data, m2.pt.data, sizeof(float) * m.pt.size) == 0);
    model_free(&m);
    model_free(&m2);
}

TEST(model_config_errors_name_the_key) {
    ModelConfig c;
    char err[512];
    config_defaults(&c);
    cJSON *j = cJSON_Parse("{\"hidden_size\": 64, \"hiden_layers\": 3}");
    CHECK(config_from_json(&c, j, "x.json", err, sizeof err) == -1 && strstr(err, "\"hiden_layers\"") && strstr(err, "x.json"));
    cJSON_Delete(j);
    j = cJSON_Parse("{\"hidden_size\": 64.5}");
    CHECK(config_from_json(&c, j, "x.json", err, sizeof err) == -1 && strstr(err, "\"hidden_size\" expects an integer"));
    cJSON_Delete(j);
    j = cJSON_Parse("{\"routing\": \"conv\"}");
    CHECK(config_from_json(&c, j, "x.json", err, sizeof err) == -1 && strstr(err, "ssm|attention"));
    cJSON_Delete(j);
    config_defaults(&c);
    c.routing = mixer_index("attention");
    c.num_attention_heads = 5;
    CHECK(config_validate(&c, err, sizeof err) == -1 && strstr(err, "num_attention_heads (5) must divide hidden_size (1024)"));
    config_defaults(&c);
    c.hidden_size = 0;
    CHECK(config_validate(&c, err, sizeof err) == -1 && strstr(err, "hidden_size"));
    config_defaults(&c);
    CHECK(config_set(&c, "pre_norm", "false", err, sizeof err) == 0 && c.pre_norm == 0);
    CHECK(config_set(&c, "hidden_act", "gelu_new", err, sizeof err) == 0 && c.hidden_act == ACT_GELU_TANH);
    CHECK(config_set(&c, "nope", "1", err, sizeof err) == -1 && strstr(err, "\"nope\""));
    // a Hugging Face BertConfig gets BERT's defaults and its labels
    j = cJSON_Parse("{\"model_type\": \"bert\", \"architectures\": [\"BertForSequenceClassification\"],"
                    "\"id2label\": {\"0\": \"neg\", \"1\": \"pos\", \"2\": \"neutral\"}, \"transformers_version\": \"4.30\"}");
    config_defaults(&c);
    CHECK(config_from_json(&c, j, "bert/config.json", err, sizeof err) == 0);
    CHECK(c.block == block_index("stack") && c.routing == mixer_index("attention") && c.pooler_type == POOL_CLS && !c.pre_norm);
    CHECK(c.num_labels == 3 && !strcmp(c.id2label[2], "neutral"));
    cJSON_Delete(j);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

TEST(model_directory_round_trips_bitwise) {
    // every block and mixer combination of the tables, with each head
    for (int bi = 0; g_blocks[bi]; bi++)
        for (int v = 0; g_mixers[v]; v++)
        for (int head = 0; head < 3 && g_blocks[bi]->slot(g_mixers[v])->walk; head++) {
            ModelConfig c = tiny(bi, v);
            c.num_labels = 3;
            Model m, m2;
            model_build(&m, &c, (HeadType)head);
            model_init_weights(&m, 11);
            char dir[512], vocab[600];
            snprintf(dir, sizeof dir, "%s/model_%d_%d_%d", test_tmpdir(), bi, v, head);
            snprintf(vocab, sizeof vocab, "%s/vocab_src.txt", test_tmpdir());
            write_text(vocab, "[PAD]\n[UNK]\nhello\n");
            model_save_dir(&m, dir, vocab);
            char *err = NULL;
            int rc = model_load_dir_err(&m2, dir, HEAD_AUTO, 0, 0, &err);
            CHECKF(rc == 0, "%s", err ? err : "");
            if (rc) continue;
            CHECK(m2.head == (HeadType)head && m2.pt.n == m.pt.n && m2.pt.size == m.pt.size);
            CHECK(memcmp(m.pt.data, m2.pt.data, sizeof(float) * m.pt.size) == 0);
            CHECK(m2.cfg.block == c.block && m2.cfg.routing == c.routing && m2.cfg.num_labels == 3);
            char vpath[700];
            snprintf(vpath, sizeof vpath, "%s/vocab.txt", dir);
            struct stat sb;
            CHECK(stat(vpath, &sb) == 0 && sb.st_size == 18);
            model_free(&m);
            model_free(&m2);
        }
}

TEST(model_load_lists_every_bad_tensor) {
    ModelConfig c = tiny(block_index("gated"), mixer_index("ssm"));
    Model m, m2;
    model_build(&m, &c, HEAD_MLM);
    char dir[512], path[700], err[256];
    snprintf(dir, sizeof dir, "%s/model_bad", test_tmpdir());
    model_save_dir(&m, dir, NULL);
    // rewrite model.safetensors: drop one tensor, mis-shape another, add a stray one
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    StWrite w[64];
    int n = 0;
    float junk[4096] = {0};
    for (int i = 0; i < m.pt.n; i++) {
        const char *name = m.pt.info[i].name;
        if (!strcmp(name, "bigs.encoder.layer.1.dol.bias")) continue;
        w[n] = (StWrite){name, DT_F32, m.pt.info[i].ndim, {0}, m.pt.t[i].data};
        for (int k = 0; k < m.pt.info[i].ndim; k++) w[n].shape[k] = m.pt.info[i].shape[k];
        if (!strcmp(name, "bigs.encoder.layer.0.dv.weight")) { w[n].shape[0] = 23; w[n].data = junk; }
        n++;
    }
    w[n++] = (StWrite){"bigs.encoder.layer.7.extra", DT_F32, 1, {3}, junk};
    CHECK(st_write(path, w, n, NULL, 0, err, sizeof err) == 0);
    char *msg = NULL;
    CHECK(model_load_dir_err(&m2, dir, HEAD_MLM, 0, 0, &msg) == -1);
    if (msg) {
        CHECKF(strstr(msg, "missing: bigs.encoder.layer.1.dol.bias") && strstr(msg, "mis-shaped: bigs.encoder.layer.0.dv.weight is (23,16)") &&
                   strstr(msg, "unexpected: bigs.encoder.layer.7.extra") && strstr(msg, "3 problems"),
               "message was: %s", msg);
        free(msg);
    }
    // loading an MLM model for classification initialises the new head and ignores cls.*
    model_save_dir(&m, dir, NULL);
    msg = NULL;
    g_quiet = 1;  // the notes about the new head are expected here
    CHECK(model_load_dir_err(&m2, dir, HEAD_SEQCLS, LOAD_NEW_HEAD, 5, &msg) == 0);
    g_quiet = 0;
    if (!msg) {
        CHECK(memcmp(params_get(&m2.pt, "bigs.encoder.layer.1.dv.weight")->data, params_get(&m.pt, "bigs.encoder.layer.1.dv.weight")->data, 24 * 16 * 4) == 0);
        model_free(&m2);
    }
    model_free(&m);
}

TEST(model_position_table_grows_cyclically) {
    ModelConfig c = tiny(block_index("gated"), mixer_index("ssm"));
    c.max_position_embeddings = 8;
    Model m, m2;
    model_build(&m, &c, HEAD_MLM);
    model_init_weights(&m, 2);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/model_grow", test_tmpdir());
    model_save_dir(&m, dir, NULL);
    ModelConfig longer = c;
    longer.max_position_embeddings = 20;
    char *err = NULL;
    CHECK(model_load_with_config(&m2, dir, &longer, HEAD_MLM, 0, 0, &err) == -1 && strstr(err, "mis-shaped: bigs.embeddings.position_embeddings.weight"));
    free(err);
    g_quiet = 1;
    CHECK(model_load_with_config(&m2, dir, &longer, HEAD_MLM, LOAD_GROW_POSITIONS, 0, &err) == 0);
    g_quiet = 0;
    const float *src = m.pos->data, *dst = m2.pos->data;
    int H = c.hidden_size, ok = 1;
    for (int r = 0; r < 20; r++) ok &= !memcmp(dst + r * H, src + (r % 8) * H, sizeof(float) * (size_t)H);
    CHECKF(ok, "row r of the grown table must be learned row r mod 8");
    CHECK(!memcmp(m.word->data, m2.word->data, sizeof(float) * (size_t)m.word->numel));
    model_free(&m);
    model_free(&m2);
}

// model_mlm runs the last layer at the masked rows only (Block.forward_rows): its loss, logits and every
// gradient are those of the whole last layer followed by the rows (the same bits while each weight
// gradient's sum over the rows is one slice of our GEMM, as here), for both blocks, both norm placements,
// and in training with dropout (the rows get the masks they have in the whole)
static double mlm_full_then_rows(Model *m, Tape *tp, const Batch *b, const int32_t *labels, float *logit0) {
    int BL = b->B * b->L, H = m->cfg.hidden_size, M = 0;
    int32_t *idx = tape_ints_new(tp, BL), *tgt = tape_ints_new(tp, BL);
    for (int i = 0; i < BL; i++)
        if (labels[i] != -100) { idx[M] = i; tgt[M++] = labels[i]; }
    Tensor *X = model_encode(m, tp, b);
    Tensor *h = op_gather(tp, op_view(tp, X, 2, (int[]){BL, H}), idx, M);
    h = op_linear_gelu(tp, h, m->mlm_dense.w, m->mlm_dense.b, m->cfg.hidden_act == ACT_GELU_TANH);
    h = op_layernorm(tp, h, m->mlm_ln.w, m->mlm_ln.b, (float)m->cfg.layer_norm_eps);
    Tensor *lg = op_linear(tp, h, m->decoder ? m->decoder : m->word, m->mlm_bias);
    *logit0 = lg->data[lg->numel - 1];
    Tensor *loss = op_cross_entropy(tp, lg, tgt, -100, NULL);
    tape_backward(tp, loss, NULL);
    return loss->data[0];
}

TEST(model_mlm_last_layer_at_the_masked_rows_only) {
    // gated+attention: a slot without forward_rows (the whole layer, then the rows)
    const char *variants[][2] = {{"gated", "ssm"}, {"stack", "attention"}, {"stack", "ssm"}, {"gated", "attention"}};
    int prev = gemm_use_own(1);  // the same bits needs a GEMM whose rows do not depend on M (ours; OpenBLAS may vary)
    for (int v = 0; v < 4; v++)
        for (int post = 0; post < 2; post++)
            for (int train = 0; train < 2; train++) {
                ModelConfig c = tiny(block_index(variants[v][0]), mixer_index(variants[v][1]));
                c.pre_norm = !post;
                c.hidden_dropout_prob = c.attention_probs_dropout_prob = train ? 0.1 : 0.0;
                Model m;
                model_build(&m, &c, HEAD_MLM);
                params_alloc_grad(&m.pt);
                model_init_weights(&m, 11 + v);
                enum { B = 3, L = 12 };
                int32_t ids[B * L], labels[B * L];
                for (int i = 0; i < B * L; i++) {
                    ids[i] = 5 + (i * 7) % 40;
                    labels[i] = i % 5 == 2 && i / L != 1 ? (i * 3) % 50 : -100;  // the second sequence has none
                }
                Batch b = {B, L, ids, NULL, NULL};
                Tape tp;
                tape_init(&tp, 0);
                float lg_p = 0, lg_f = 0;
                double lp = 0, lf = 0;
                float *gp = xmalloc(sizeof(float) * (size_t)m.pt.size);
                for (int pass = 0; pass < 2; pass++) {  // 0: model_mlm, 1: the whole last layer, then the rows
                    tape_reset(&tp);
                    tp.training = train;
                    tp.dropout_key = 77;
                    params_zero_grad(&m.pt);
                    if (pass == 0) {
                        Tensor *lg = NULL;
                        Tensor *loss = model_mlm(&m, &tp, &b, labels, &lg, NULL);
                        tape_backward(&tp, loss, NULL);
                        lp = loss->data[0];
                        lg_p = lg->data[lg->numel - 1];
                        memcpy(gp, m.pt.grad, sizeof(float) * (size_t)m.pt.size);
                    } else {
                        lf = mlm_full_then_rows(&m, &tp, &b, labels, &lg_f);
                    }
                }
                char tag[64];
                snprintf(tag, sizeof tag, "%s+%s, %s-norm%s", variants[v][0], variants[v][1], post ? "post" : "pre",
                         train ? ", training with dropout" : "");
                CHECKF(lp == lf && lg_p == lg_f, "%s: loss %.9g against %.9g, a logit %.9g against %.9g", tag, lp, lf, lg_p, lg_f);
                int bad = -1;
                for (int i = 0; i < m.pt.n && bad < 0; i++)
                    if (memcmp(gp + m.pt.info[i].offset, m.pt.grad + m.pt.info[i].offset, sizeof(float) * (size_t)m.pt.info[i].numel))
                        bad = i;
                CHECKF(bad < 0, "%s: the gradient of %s differs", tag, bad >= 0 ? m.pt.info[bad].name : "");
                double gsum = 0;
                for (long i = 0; i < m.pt.size; i++) gsum += fabs(gp[i]);
                CHECK(gsum > 0 && isfinite(lp));  // the gradients are there
                free(gp);
                tape_free(&tp);
                model_free(&m);
            }
    gemm_use_own(prev);
}
