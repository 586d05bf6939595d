// test_positions.c: where word order comes from (docs/models.md section 8) and the untied decoder.
// RoPE's scores depend on position differences only; its two pair layouts are one model up to a
// permutation of the query and key rows; the ALiBi slope tables; an untied decoder that starts as a
// copy of the embeddings gives the tied model's logits bit for bit; the config errors name their key;
// models without a position table run at any length and save, load and convert; a Hugging Face BERT
// with an untied decoder loads; and the commands (pretrain, eval --max-length, info, finetune, predict).
#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/base/rng.h"
#include "core/engine/ops.h"
#include "core/formats/safetensors.h"
#include "core/formats/tsource.h"
#include "core/model/model.h"
#include "tests/test.h"

static ModelConfig tiny(const char *block, const char *routing, int pos) {
    ModelConfig c;
    config_defaults(&c);
    c.vocab_size = 40, c.hidden_size = 16, c.num_hidden_layers = 2, c.intermediate_size = 24, c.num_ssm = 4;
    c.num_attention_heads = 2, c.max_position_embeddings = 12, c.num_labels = 3;
    c.hidden_dropout_prob = 0, c.attention_probs_dropout_prob = 0;
    c.initializer_range = 0.3;
    c.block = block_index(block), c.routing = mixer_index(routing), c.position_embedding_type = pos;
    if (!strcmp(block, "stack") && !strcmp(routing, "attention")) c.pre_norm = 0, c.pooler_type = POOL_CLS;
    return c;
}

// A batch of B rows of length L (the second padded by 3), with a masked-LM label at every third token.
typedef struct { int32_t ids[4 * 64], mask[4 * 64], labels[4 * 64]; } Rows;

static Batch rows(Rows *r, int B, int L, int V) {
    Rng g;
    rng_init(&g, 11, (uint64_t)L);
    for (int i = 0; i < B * L; i++) {
        int p = i % L, len = i / L == 1 ? L - 3 : L;
        r->mask[i] = p < len;
        r->ids[i] = p < len ? 1 + (int)rng_below(&g, (uint64_t)V - 1) : 0;
        r->labels[i] = p < len && p % 3 == 1 ? (int)rng_below(&g, (uint64_t)V) : -100;
    }
    return (Batch){B, L, r->ids, NULL, r->mask};
}

// MLM logits (M,V) of m on b, copied out (the caller frees); *n receives their count.
static float *mlm_logits(Model *m, const Batch *b, const int32_t *labels, long *n) {
    Tape tp;
    tape_init(&tp, 0);
    tp.no_grad = 1;
    Tensor *lg;
    model_mlm(m, &tp, b, labels, &lg, NULL);
    float *out = xmalloc(sizeof(float) * (size_t)lg->numel);
    memcpy(out, lg->data, sizeof(float) * (size_t)lg->numel);
    *n = lg->numel;
    tape_free(&tp);
    return out;
}

// ----------------------------------------------------------------------------
// RoPE

// The attention scores q_i . k_j per head (in double) of q and k rotated at positions pos0 + i.
static void rope_scores(double *S, const float *q, const float *k, int L, int H, int NH, int pos0, int interleaved) {
    Tape tp;
    tape_init(&tp, 1 << 16);
    tp.no_grad = 1;
    Tensor *tq = tape_new(&tp, "q", 2, L, H), *tk = tape_new(&tp, "k", 2, L, H);
    memcpy(tq->data, q, sizeof(float) * (size_t)L * H);
    memcpy(tk->data, k, sizeof(float) * (size_t)L * H);
    int32_t pos[64];
    for (int i = 0; i < L; i++) pos[i] = pos0 + i;
    Tensor *rq = op_rope(&tp, tq, pos, NH, 10000, 1, interleaved), *rk = op_rope(&tp, tk, pos, NH, 10000, 1, interleaved);
    int dh = H / NH;
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < L; i++)
            for (int j = 0; j < L; j++) {
                double s = 0;
                for (int d = 0; d < dh; d++) s += (double)rq->data[i * H + h * dh + d] * rk->data[j * H + h * dh + d];
                S[((long)h * L + i) * L + j] = s;
            }
    tape_free(&tp);
}

TEST(rope_scores_depend_on_position_differences_only) {
    enum { L = 10, H = 16, NH = 2 };
    float q[L * H], k[L * H];
    Rng r;
    rng_init(&r, 5, 0);
    rng_fill_normal(&r, q, L * H, 0, 1);
    rng_fill_normal(&r, k, L * H, 0, 1);
    double s0[NH * L * L], s1[NH * L * L];
    for (int inter = 0; inter <= 1; inter++)
        for (int shift = 1; shift <= 1000; shift *= 10) {
            rope_scores(s0, q, k, L, H, NH, 0, inter);
            rope_scores(s1, q, k, L, H, NH, shift, inter);
            // relative to the largest score: the rotated q, k are float32, so each score carries rounding
            // of about dh * 6e-8 of |q||k|
            double worst = 0, moved = 0, smax = 0;
            for (int i = 0; i < NH * L * L; i++) smax = fmax(smax, fabs(s0[i]));
            for (int i = 0; i < NH * L * L; i++) worst = fmax(worst, fabs(s0[i] - s1[i]) / smax);
            // and the rotation does something: head 0's scores differ from the unrotated products
            for (int i = 0; i < L; i++)
                for (int j = 0; j < L; j++) {
                    double u = 0;
                    for (int d = 0; d < H / NH; d++) u += (double)q[i * H + d] * k[j * H + d];
                    moved = fmax(moved, fabs(u - s0[i * L + j]));
                }
            CHECKF(worst <= 1e-6, "%s: positions shifted by %d change the scores by %.2g of the largest", inter ? "interleaved" : "half-split", shift, worst);
            CHECKF(moved > 1e-1, "the rotated scores equal the plain ones: RoPE did nothing");
        }
}

// Interleaved pair i = channels (2i, 2i+1), half-split pair i = (i, i + dh/2): with W_q, W_k (and their
// biases) rows permuted accordingly inside each head, both layouts are the same model.
static void permute_rows(Tensor *dst, const Tensor *src, int NH) {
    int out = src->shape[0], in = src->ndim == 2 ? src->shape[1] : 1, dh = out / NH;
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < dh / 2; i++) {
            memcpy(dst->data + (long)(h * dh + 2 * i) * in, src->data + (long)(h * dh + i) * in, sizeof(float) * (size_t)in);
            memcpy(dst->data + (long)(h * dh + 2 * i + 1) * in, src->data + (long)(h * dh + i + dh / 2) * in, sizeof(float) * (size_t)in);
        }
}

TEST(rope_interleaved_equals_half_split_after_permuting_wq_wk) {
    const char *blocks[2] = {"stack", "gated"};
    for (int bi = 0; bi < 2; bi++) {
        ModelConfig c = tiny(blocks[bi], "attention", POS_ROPE), ci = c;
        ci.rope_interleaved = 1;
        Model a, b;
        model_build(&a, &c, HEAD_MLM);
        model_build(&b, &ci, HEAD_MLM);
        model_init_weights(&a, 3);
        int permuted = 0;
        for (int i = 0; i < a.pt.n; i++) {
            const char *nm = a.pt.info[i].name;
            if (strstr(nm, ".query.") || strstr(nm, ".key.")) { permute_rows(&b.pt.t[i], &a.pt.t[i], c.num_attention_heads); permuted++; }
            else memcpy(b.pt.t[i].data, a.pt.t[i].data, sizeof(float) * (size_t)a.pt.t[i].numel);
        }
        CHECK_EQ_INT(permuted, 4 * c.num_hidden_layers);
        Rows r;
        Batch bt = rows(&r, 2, 12, c.vocab_size);
        long n1, n2;
        float *l1 = mlm_logits(&a, &bt, r.labels, &n1), *l2 = mlm_logits(&b, &bt, r.labels, &n2);
        CHECK(n1 == n2);
        CHECK_CLOSE(blocks[bi], l2, l1, n1, 1e-5, 1e-5);
        // without the permutation the interleaved model is another function
        for (int i = 0; i < a.pt.n; i++) memcpy(b.pt.t[i].data, a.pt.t[i].data, sizeof(float) * (size_t)a.pt.t[i].numel);
        free(l2);
        l2 = mlm_logits(&b, &bt, r.labels, &n2);
        double d = 0;
        for (long i = 0; i < n1; i++) d = fmax(d, fabs(l1[i] - l2[i]));
        CHECKF(d > 1e-3, "%s: the two layouts agree without permuting (%g)", blocks[bi], d);
        free(l1), free(l2);
        model_free(&a), model_free(&b);
    }
}

TEST(rope_kernel_same_bits_for_any_thread_count) {
    enum { R = 96, H = 32, NH = 4 };
    float x[R * H], cs[R * 4 * 2], y1[R * H], y2[R * H], g1[R * H] = {0}, g2[R * H] = {0};
    int32_t pos[R];
    Rng r;
    rng_init(&r, 8, 0);
    rng_fill_normal(&r, x, R * H, 0, 1);
    for (int i = 0; i < R; i++) pos[i] = (i * 7) % R;
    rope_table(cs, R, H / NH, 10000, 1);
    threads_set(1);
    rope_forward(y1, x, cs, pos, R, H, NH, 0);
    rope_backward(g1, y1, cs, pos, R, H, NH, 0);
    threads_set(2);
    rope_forward(y2, x, cs, pos, R, H, NH, 0);
    rope_backward(g2, y2, cs, pos, R, H, NH, 0);
    threads_set(0);
    CHECK(!memcmp(y1, y2, sizeof y1) && !memcmp(g1, g2, sizeof g1));
    CHECK_CLOSE("backward of the forward rotation is the identity", g1, x, R * H, 1e-6, 1e-6);
}

// ----------------------------------------------------------------------------
// ALiBi

TEST(alibi_slope_tables) {
    float m[16];
    alibi_slopes(m, 8);
    for (int h = 0; h < 8; h++) CHECKF(m[h] == (float)pow(2, -(h + 1)), "8 heads: slope %d is %g", h, m[h]);
    alibi_slopes(m, 16);
    for (int h = 0; h < 16; h++) CHECKF(m[h] == (float)pow(2, -(h + 1) / 2.0), "16 heads: slope %d is %g", h, m[h]);
    // 12 heads: those of 8, then every other slope of 16 (docs/models.md section 8)
    alibi_slopes(m, 12);
    const double want12[12] = {0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625,
                               0.70710678, 0.35355339, 0.17677670, 0.08838835};
    for (int h = 0; h < 12; h++) CHECKF(fabs(m[h] - want12[h]) < 1e-7, "12 heads: slope %d is %.8f, expected %.8f", h, m[h], want12[h]);
    alibi_slopes(m, 1);
    CHECK(m[0] == 1.0f / 256);
}

// ----------------------------------------------------------------------------
// the untied decoder

TEST(untied_decoder_copy_gives_tied_logits_bitwise) {
    const char *variants[3][2] = {{"gated", "ssm"}, {"stack", "attention"}, {"gated", "attention"}};
    for (int v = 0; v < 3; v++) {
        ModelConfig c = tiny(variants[v][0], variants[v][1], POS_ABSOLUTE), cu = c;
        cu.tie_word_embeddings = 0;
        Model t, u;
        model_build(&t, &c, HEAD_MLM);
        model_build(&u, &cu, HEAD_MLM);
        CHECK_EQ_INT(u.pt.count, t.pt.count + (long)c.vocab_size * c.hidden_size);
        CHECK(u.decoder && !t.decoder && params_find(&u.pt, "cls.predictions.decoder.weight") >= 0);
        int di = params_find(&u.pt, "cls.predictions.decoder.weight");
        CHECK(u.pt.info[di].role.head && u.pt.info[di].role.wd == WD_DEFAULT && u.pt.info[di].role.init);
        model_init_weights(&t, 4);
        model_init_weights(&u, 4);  // every tensor draws from its own stream: the shared ones are equal
        memcpy(u.decoder->data, u.word->data, sizeof(float) * (size_t)u.word->numel);
        params_alloc_grad(&t.pt);
        params_alloc_grad(&u.pt);
        Rows r;
        Batch b = rows(&r, 2, 12, c.vocab_size);
        Tape tt, tu;
        tape_init(&tt, 0), tape_init(&tu, 0);
        Tensor *lt, *lu;
        Tensor *losst = model_mlm(&t, &tt, &b, r.labels, &lt, NULL), *lossu = model_mlm(&u, &tu, &b, r.labels, &lu, NULL);
        CHECKF(lt->numel == lu->numel && !memcmp(lt->data, lu->data, sizeof(float) * (size_t)lt->numel), "%s+%s: logits differ",
               variants[v][0], variants[v][1]);
        CHECK(losst->data[0] == lossu->data[0]);
        // the tied gradient is the sum of the untied embedding's and decoder's
        tape_backward(&tt, losst, NULL);
        tape_backward(&tu, lossu, NULL);
        long n = t.word->numel;
        float *sum = xmalloc(sizeof(float) * (size_t)n);
        double dn = 0;
        for (long i = 0; i < n; i++) { sum[i] = u.word->grad[i] + u.decoder->grad[i]; dn += fabs(u.decoder->grad[i]); }
        CHECK_CLOSE("d(word) tied = d(word) + d(decoder) untied", sum, t.word->grad, n, 1e-6, 1e-4);
        CHECK(dn > 0);
        free(sum);
        tape_free(&tt), tape_free(&tu);
        model_free(&t), model_free(&u);
    }
}

// ----------------------------------------------------------------------------
// config keys

TEST(position_config_errors_name_the_key) {
    static const struct { const char *json, *want, *also; } cases[] = {
        {"{\"routing\": \"attention\", \"position_embedding_type\": \"rope\", \"rope_theta\": 0}", "rope_theta", NULL},
        {"{\"rope_theta\": -3}", "rope_theta", NULL},
        {"{\"routing\": \"attention\", \"position_embedding_type\": \"rope\", \"hidden_size\": 12, \"num_attention_heads\": 4}", "rope",
         "num_attention_heads"},
        {"{\"position_embedding_type\": \"alibi\"}", "position_embedding_type", "ssm"},
        {"{\"position_embedding_type\": \"rope\", \"block\": \"stack\"}", "position_embedding_type", "ssm"},
        {"{\"routing\": \"attention\", \"position_embedding_type\": \"none\"}", "position_embedding_type", "attention"},
        {"{\"position_embedding_type\": \"relative_key\"}", "position_embedding_type", "absolute|rope|alibi|none"},
        {"{\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2}}", "rope_scaling", "dynamic"},
        {"{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 0.5}}", "rope_scaling", NULL},
        {"{\"rope_scaling\": {\"type\": \"linear\"}}", "rope_scaling", NULL},
        {"{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2, \"original_max_position_embeddings\": 8}}", "rope_scaling",
         "original_max_position_embeddings"},
        {"{\"rope_scaling\": \"linear\"}", "rope_scaling", NULL},
        {"{\"rope_interleaved\": 3}", "rope_interleaved", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ModelConfig c;
        config_defaults(&c);
        c.hidden_size = 16;
        cJSON *j = cJSON_Parse(cases[i].json);
        char err[512] = "";
        int rc = config_from_json(&c, j, "test.json", err, sizeof err);
        if (!rc) rc = config_validate(&c, err, sizeof err);
        cJSON_Delete(j);
        CHECKF(rc == -1 && strstr(err, cases[i].want) && (!cases[i].also || strstr(err, cases[i].also)), "%s: %s", cases[i].json, err);
    }
    ModelConfig c;
    config_defaults(&c);
    char err[512];
    CHECK(config_set(&c, "rope_scaling", "{\"type\": \"linear\", \"factor\": 4}", err, sizeof err) == 0 && c.rope_scaling_factor == 4);
    CHECK(config_set(&c, "rope_scaling", "null", err, sizeof err) == 0 && c.rope_scaling_factor == 0);
    CHECK(config_set(&c, "rope_scaling", "linear", err, sizeof err) == -1 && strstr(err, "rope_scaling"));
    CHECK(config_set(&c, "position_embedding_type", "alibi", err, sizeof err) == 0 && c.position_embedding_type == POS_ALIBI);
}

TEST(position_config_json_round_trip) {
    // configs from before the keys: position_embedding_type "absolute" and no RoPE keys, as before
    ModelConfig c;
    config_defaults(&c);
    cJSON *j = config_to_json(&c, NULL);
    const cJSON *pt = cJSON_GetObjectItem(j, "position_embedding_type");
    CHECK(cJSON_IsString(pt) && !strcmp(pt->valuestring, "absolute") && !pt->next);  // the last key
    CHECK(!cJSON_GetObjectItem(j, "rope_theta") && !cJSON_GetObjectItem(j, "rope_interleaved") && !cJSON_GetObjectItem(j, "rope_scaling"));
    cJSON_Delete(j);
    // a RoPE model writes its keys, and reads them back
    ModelConfig r = tiny("stack", "attention", POS_ROPE), back;
    r.rope_theta = 500, r.rope_interleaved = 1, r.rope_scaling_factor = 2.5, r.tie_word_embeddings = 0;
    j = config_to_json(&r, "BertForMaskedLM");
    const cJSON *rs = cJSON_GetObjectItem(j, "rope_scaling");
    CHECK(cJSON_IsObject(rs) && !strcmp(cJSON_GetObjectItem(rs, "type")->valuestring, "linear") && cJSON_GetObjectItem(rs, "factor")->valuedouble == 2.5);
    config_defaults(&back);
    char err[512];
    CHECKF(config_from_json(&back, j, "round trip", err, sizeof err) == 0 && config_validate(&back, err, sizeof err) == 0, "%s", err);
    CHECK(back.position_embedding_type == POS_ROPE && back.rope_theta == 500 && back.rope_interleaved && back.rope_scaling_factor == 2.5 &&
          !back.tie_word_embeddings);
    cJSON_Delete(j);
}

// ----------------------------------------------------------------------------
// no position table: any length; save, load, convert

TEST(no_position_table_runs_at_any_length) {
    const char *variants[4][3] = {{"stack", "attention", "rope"}, {"gated", "attention", "alibi"}, {"gated", "ssm", "none"}, {"stack", "ssm", "none"}};
    for (int v = 0; v < 4; v++) {
        int pt = !strcmp(variants[v][2], "rope") ? POS_ROPE : !strcmp(variants[v][2], "alibi") ? POS_ALIBI : POS_NONE;
        ModelConfig c = tiny(variants[v][0], variants[v][1], pt);
        Model m;
        model_build(&m, &c, HEAD_MLM);
        CHECKF(!m.pos, "%s: a position table", variants[v][2]);
        for (int i = 0; i < m.pt.n; i++) CHECKF(!strstr(m.pt.info[i].name, "position_embeddings"), "%s: %s", variants[v][2], m.pt.info[i].name);
        CHECK(config_length_limit(&c) == 0);
        model_init_weights(&m, 1);
        Rows r;
        Batch b = rows(&r, 2, 60, c.vocab_size);  // five times max_position_embeddings
        long n;
        float *lg = mlm_logits(&m, &b, r.labels, &n);
        int finite = n > 0;
        for (long i = 0; i < n; i++) finite &= isfinite(lg[i]) != 0;
        CHECKF(finite, "%s+%s %s at L = 60", variants[v][0], variants[v][1], variants[v][2]);
        free(lg);
        model_free(&m);
    }
    ModelConfig a = tiny("stack", "attention", POS_ABSOLUTE);
    CHECK(config_length_limit(&a) == 12);
}

// Saves m (safetensors) and as pytorch_model.bin, loads both back: the same logits bit for bit.
static void round_trip(Model *m, const char *tag) {
    char dir[600], tdir[600], err[1024], path[700];
    snprintf(dir, sizeof dir, "%s/pos_%s", test_tmpdir(), tag);
    snprintf(tdir, sizeof tdir, "%s/pos_%s_torch", test_tmpdir(), tag);
    model_save_dir(m, dir, NULL);
    CHECKF(model_save_dir_as(m, tdir, NULL, TS_TORCH, err, sizeof err) == 0, "%s", err);
    // the torch file holds the decoder once: the parameter when untied, else the tied copy of the embeddings
    snprintf(path, sizeof path, "%s/pytorch_model.bin", tdir);
    TensorSource src;
    if (ts_open(&src, path, err, sizeof err)) { CHECKF(0, "%s", err); return; }
    int ndec = 0;
    for (int j = 0; j < src.n; j++) ndec += !strcmp(src.t[j].name, "cls.predictions.decoder.weight");
    CHECKF(ndec == 1, "%s: %d decoders in pytorch_model.bin", tag, ndec);
    ts_close(&src);
    Rows r;
    Batch b = rows(&r, 2, 12, m->cfg.vocab_size);
    long n0, n1, n2;
    float *l0 = mlm_logits(m, &b, r.labels, &n0);
    const char *dirs[2] = {dir, tdir};
    for (int k = 0; k < 2; k++) {
        Model back;
        model_load_dir(&back, dirs[k], HEAD_AUTO, 0, 0);
        CHECK(back.cfg.position_embedding_type == m->cfg.position_embedding_type && back.cfg.tie_word_embeddings == m->cfg.tie_word_embeddings &&
              back.cfg.rope_interleaved == m->cfg.rope_interleaved && back.cfg.rope_scaling_factor == m->cfg.rope_scaling_factor);
        float *l1 = mlm_logits(&back, &b, r.labels, k ? &n2 : &n1);
        CHECKF((k ? n2 : n1) == n0 && !memcmp(l0, l1, sizeof(float) * (size_t)n0), "%s: logits after loading %s differ", tag, dirs[k]);
        free(l1);
        model_free(&back);
    }
    free(l0);
}

TEST(position_models_save_load_and_convert) {
    struct { const char *block, *routing, *tag; int pos, tied, inter; double factor; } v[] = {
        {"stack", "attention", "bert_rope_il", POS_ROPE, 1, 1, 2},
        {"gated", "attention", "gated_alibi", POS_ALIBI, 1, 0, 0},
        {"gated", "ssm", "bigs_none", POS_NONE, 1, 0, 0},
        {"stack", "attention", "bert_untied", POS_ABSOLUTE, 0, 0, 0},
        {"gated", "ssm", "bigs_untied", POS_ABSOLUTE, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        ModelConfig c = tiny(v[k].block, v[k].routing, v[k].pos);
        c.tie_word_embeddings = v[k].tied, c.rope_interleaved = v[k].inter, c.rope_scaling_factor = v[k].factor;
        Model m;
        model_build(&m, &c, HEAD_MLM);
        model_init_weights(&m, 6);
        round_trip(&m, v[k].tag);
        if (!strcmp(v[k].block, "gated") && !strcmp(v[k].routing, "ssm")) {
            // the official Flax layout: BiGS without a table writes (and holds no table), an untied decoder has no name there
            char dir[600], err[1024] = "";
            snprintf(dir, sizeof dir, "%s/pos_%s_flax", test_tmpdir(), v[k].tag);
            int rc = model_save_dir_as(&m, dir, NULL, TS_FLAX, err, sizeof err);
            if (v[k].tied) {
                CHECKF(rc == 0, "%s: %s", v[k].tag, err);
                Model back;
                model_load_dir(&back, dir, HEAD_AUTO, 0, 0);
                Rows r;
                Batch b = rows(&r, 2, 12, c.vocab_size);
                long n0, n1;
                float *l0 = mlm_logits(&m, &b, r.labels, &n0), *l1 = mlm_logits(&back, &b, r.labels, &n1);
                CHECKF(n0 == n1 && !memcmp(l0, l1, sizeof(float) * (size_t)n0), "%s: logits after the Flax round trip differ", v[k].tag);
                free(l0), free(l1);
                model_free(&back);
            } else CHECKF(rc == -1 && strstr(err, "cls.predictions.decoder.weight"), "%s: %s", v[k].tag, err);
        }
        model_free(&m);
    }
}

TEST(hugging_face_bert_with_an_untied_decoder_loads) {
    // tests/formats/bert_hf_untied: torch.save of a BertForMaskedLM with tie_word_embeddings false
    // (scripts/make_convert_fixtures.py), logits by the float64 reference
    char dir[600], path[700], err[512];
    snprintf(dir, sizeof dir, "%s/formats/bert_hf_untied", test_data_dir());
    Model m;
    char *lerr = NULL;
    if (model_load_dir_err(&m, dir, HEAD_AUTO, 0, 0, &lerr)) { CHECKF(0, "%s", lerr); free(lerr); return; }
    CHECK(m.decoder && !m.cfg.tie_word_embeddings && config_is_bert(&m.cfg));
    CHECK(memcmp(m.decoder->data, m.word->data, sizeof(float) * (size_t)m.word->numel) != 0);
    StFile in, g;
    snprintf(path, sizeof path, "%s/formats/flax_expected.safetensors", test_data_dir());
    if (st_open(&in, path, err, sizeof err)) { CHECKF(0, "%s", err); model_free(&m); return; }
    snprintf(path, sizeof path, "%s/formats/bert_untied_expected.safetensors", test_data_dir());
    if (st_open(&g, path, err, sizeof err)) { CHECKF(0, "%s", err); st_close(&in); model_free(&m); return; }
    int32_t ids[32], mask[32], labels[32];
    int64_t tmp[32];
    const char *names[3] = {"input.input_ids", "input.attention_mask", "input.labels"};
    int32_t *dst[3] = {ids, mask, labels};
    for (int k = 0; k < 3; k++) {
        st_to_i64(&in, st_find(&in, names[k]), tmp);
        for (int i = 0; i < 32; i++) dst[k][i] = (int32_t)tmp[i];
    }
    Batch b = {2, 16, ids, NULL, mask};
    long n;
    float *lg = mlm_logits(&m, &b, labels, &n);
    const StTensor *t = st_find(&g, "output.logits");
    CHECKF(t && t->numel == n, "no output.logits or %ld logits", n);
    if (t && t->numel == n) {
        float *want = xmalloc(sizeof(float) * (size_t)n);
        st_to_f32(&g, t, want);
        CHECK_CLOSE("untied HF BERT logits", lg, want, n, 1e-5, 1e-4);
        free(want);
    }
    free(lg);
    st_close(&in), st_close(&g);
    model_free(&m);
}

// ----------------------------------------------------------------------------
// the commands

static void write_pos_config(const char *path, const char *pos, int tied) {
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"model\": {\"vocab_size\": 2000, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"intermediate_size\": 48,\n"
               "  \"block\": \"stack\", \"routing\": \"attention\", \"num_attention_heads\": 2, \"max_position_embeddings\": 32,\n"
               "  \"position_embedding_type\": \"%s\", \"tie_word_embeddings\": %s},\n"
               " \"train\": {\"learning_rate\": 3e-3, \"warmup_steps\": 2, \"max_steps\": 6, \"per_device_train_batch_size\": 8,\n"
               "  \"max_seq_length\": 32, \"save_steps\": 100, \"eval_steps\": 100, \"eval_batches\": 2}}\n", pos, tied ? "true" : "false");
    fclose(f);
}

static long info_total(const char *dir) {
    char cmd[1200], out[16384];
    snprintf(cmd, sizeof cmd, "%s info %s --json 2>/dev/null", test_bigs_bin(), dir);
    if (test_run(cmd, out, sizeof out) != 0) return -1;
    cJSON *j = cJSON_Parse(out);
    const cJSON *p = cJSON_GetObjectItem(j, "parameters"), *t = p ? cJSON_GetObjectItem(p, "total") : NULL;
    long n = cJSON_IsNumber(t) ? (long)t->valuedouble : -1;
    cJSON_Delete(j);
    return n;
}

TEST(position_types_pretrain_eval_and_info) {
    char d32[600], d96[600], cfg[600], out[3][600], cmd[4096], log[16384];
    snprintf(d32, sizeof d32, "%s/pos_d32", test_tmpdir());
    snprintf(d96, sizeof d96, "%s/pos_d96", test_tmpdir());
    test_make_mlm_shards(d32, 80, 32);
    test_make_mlm_shards(d96, 80, 96);
    const char *kinds[3] = {"absolute", "rope", "alibi"};
    for (int k = 0; k < 3; k++) {
        snprintf(cfg, sizeof cfg, "%s/pos_%s.json", test_tmpdir(), kinds[k]);
        snprintf(out[k], sizeof out[k], "%s/pos_run_%s", test_tmpdir(), kinds[k]);
        write_pos_config(cfg, kinds[k], 1);
        snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet", test_bigs_bin(), cfg, d32, out[k]);
        CHECKF(test_run(cmd, log, sizeof log) == 0, "pretrain %s: %s", kinds[k], log);
    }
    // three times the pretraining length: rope and alibi as they are, absolute only with its table grown
    for (int k = 1; k < 3; k++) {
        snprintf(cmd, sizeof cmd, "%s eval --task mlm --data %s --model %s --threads 1", test_bigs_bin(), d96, out[k]);
        CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, "\"loss\""), "eval %s at 96: %s", kinds[k], log);
    }
    snprintf(cmd, sizeof cmd, "%s eval --task mlm --data %s --model %s --threads 1", test_bigs_bin(), d96, out[0]);
    CHECKF(test_run(cmd, log, sizeof log) == 1 && strstr(log, "--max-length 96"), "%s", log);
    snprintf(cmd, sizeof cmd, "%s eval --task mlm --data %s --model %s --threads 1 --max-length 96", test_bigs_bin(), d96, out[0]);
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, "position table grows from 32 to 96 rows") && strstr(log, "\"loss\""), "%s", log);
    snprintf(cmd, sizeof cmd, "%s eval --task sst2 --data %s --model %s --max-length 96", test_bigs_bin(), d96, out[0]);
    CHECKF(test_run(cmd, log, sizeof log) == 2 && strstr(log, "--max-length goes with --task mlm"), "%s", log);
    // the table is not in the files, and info counts without it: 32 positions x 32
    long tot[3];
    for (int k = 0; k < 3; k++) tot[k] = info_total(out[k]);
    CHECKF(tot[0] - tot[1] == 32 * 32 && tot[0] - tot[2] == 32 * 32, "info totals %ld %ld %ld", tot[0], tot[1], tot[2]);
    snprintf(cmd, sizeof cmd, "grep -c position_embeddings.weight %s/model.safetensors", out[1]);
    CHECK(test_run(cmd, log, sizeof log) == 1);  // no match
    // an untied decoder: its own V x H parameters, and training runs
    snprintf(cfg, sizeof cfg, "%s/pos_untied.json", test_tmpdir());
    write_pos_config(cfg, "rope", 0);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s/pos_run_untied --threads 1 --quiet", test_bigs_bin(), cfg, d32, test_tmpdir());
    CHECKF(test_run(cmd, log, sizeof log) == 0, "pretrain untied: %s", log);
    snprintf(cmd, sizeof cmd, "%s/pos_run_untied", test_tmpdir());
    CHECKF(info_total(cmd) - tot[1] == 2000L * 32, "untied info total %ld", info_total(cmd));
    snprintf(cmd, sizeof cmd, "%s info %s/pos_run_untied/config.json", test_bigs_bin(), test_tmpdir());
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, "stack+attention"), "%s", log);
}

// A model of the given kind with 16 positions (the uncased test vocabulary) finetunes at 40 tokens without
// truncation, evaluates, and predicts on a text far past 16 tokens.
static void finetune_past_the_table(const char *tag, const char *block, const char *routing, int pos, int tied) {
    char base[600], task[600], ft[600], vocab[600], cmd[4096], log[16384];
    snprintf(base, sizeof base, "%s/pos_ft_%s", test_tmpdir(), tag);
    snprintf(task, sizeof task, "%s/pos_ft_sst2", test_tmpdir());
    snprintf(ft, sizeof ft, "%s/pos_ft_%s_out", test_tmpdir(), tag);
    snprintf(vocab, sizeof vocab, "%s/tokenizer/vocab-uncased.txt", test_data_dir());
    ModelConfig c = tiny(block, routing, pos);
    c.max_position_embeddings = 16, c.tie_word_embeddings = tied, c.padding = PAD_LONGEST;
    FILE *f = fopen(vocab, "r");  // the vocabulary's size
    int lines = 0;
    for (int ch; f && (ch = fgetc(f)) != EOF;) lines += ch == '\n';
    if (f) fclose(f);
    c.vocab_size = lines;
    Model m;
    model_build(&m, &c, HEAD_MLM);
    model_init_weights(&m, 2);
    model_save_dir(&m, base, vocab);
    model_free(&m);
    struct stat sb;
    if (stat(task, &sb) != 0) test_make_glue_task_dir(task, "sst2");
    snprintf(cmd, sizeof cmd, "%s finetune --task sst2 --data %s --model %s --output %s --threads 1 --set train.max_seq_length=40 "
             "--set train.num_train_epochs=1 --set train.per_device_train_batch_size=4 2>&1", test_bigs_bin(), task, base, ft);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0 && !strstr(log, "truncated"), "%s finetune (%d): %s", tag, rc, log);
    ModelConfig fc;
    config_load_path(&fc, ft);
    CHECKF(fc.max_position_embeddings == 40 && fc.position_embedding_type == pos, "%s: %d positions", tag, fc.max_position_embeddings);
    snprintf(cmd, sizeof cmd, "%s eval --task sst2 --data %s --model %s --threads 1", test_bigs_bin(), task, ft);
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, "accuracy"), "%s: %s", tag, log);
    char text[2048] = "";
    for (int i = 0; i < 60; i++) strcat(text, "the movie was good and ");
    snprintf(cmd, sizeof cmd, "%s predict --model %s --text '%s' 2>&1", test_bigs_bin(), ft, text);
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, "\"label\"") && !strstr(log, "truncated"), "%s: %s", tag, log);
}

TEST(position_types_finetune_and_predict_past_the_table) {
    finetune_past_the_table("bert_rope", "stack", "attention", POS_ROPE, 1);
    finetune_past_the_table("gated_alibi", "gated", "attention", POS_ALIBI, 1);
    finetune_past_the_table("bigs_none", "gated", "ssm", POS_NONE, 1);
    finetune_past_the_table("bert_rope_untied", "stack", "attention", POS_ROPE, 0);  // the decoder is left behind
}
