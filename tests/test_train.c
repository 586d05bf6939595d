// test_train.c: AdamW against torch.optim.AdamW, clipping, schedules, training configs and
// checkpoint folders.
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/formats/safetensors.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/train_config.h"
#include "tests/test.h"

static void load(StFile *f, const char *name, float *out) {
    const StTensor *t = st_find(f, name);
    CHECKF(t != NULL, "golden tensor %s missing", name);
    if (t) st_to_f32(f, t, out);
}

TEST(adamw_matches_torch_with_clipping) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/golden/adamw.safetensors", test_data_dir());
    StFile f;
    CHECKF(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    ParamTable pt;
    params_init(&pt);
    params_add(&pt, "w0", 2, (int[]){5, 3}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "w1.bias", 1, (int[]){7}, (ParamRole){0});
    params_alloc(&pt);
    params_alloc_grad(&pt);
    load(&f, "w0", pt.t[0].data);
    load(&f, "w1", pt.t[1].data);
    AdamW opt;
    adamw_init(&opt, &pt, 1);
    float lrs[4], norms[4];
    load(&f, "lrs", lrs);
    load(&f, "norms", norms);
    for (int s = 0; s < 4; s++) {
        char n0[32], n1[32];
        snprintf(n0, sizeof n0, "grad%d.w0", s);
        snprintf(n1, sizeof n1, "grad%d.w1", s);
        load(&f, n0, pt.t[0].grad);
        load(&f, n1, pt.t[1].grad);
        float norm = (float)grad_clip(&pt, 1.5);
        CHECK_CLOSE("pre-clip norm", &norm, &norms[s], 1, 1e-6, 1e-6);
        adamw_step(&opt, &pt, lrs[s], 0.9, 0.98, 1e-6, 0.05);
    }
    float want0[15], want1[7];
    load(&f, "out.w0", want0);
    load(&f, "out.w1", want1);
    CHECK_CLOSE("w0 after 4 steps", pt.t[0].data, want0, 15, 1e-7, 1e-6);
    CHECK_CLOSE("w1 (no decay) after 4 steps", pt.t[1].data, want1, 7, 1e-7, 1e-6);
    CHECK_EQ_INT(opt.step, 4);
    adamw_free(&opt);
    params_free(&pt);
    st_close(&f);
}

TEST(lr_schedules) {
    // linear warmup over 10 steps, then decay over steps 10..110
    CHECK(lr_factor(SCHED_LINEAR, 0, 10, 110, 0) == 0.0);
    CHECK(fabs(lr_factor(SCHED_LINEAR, 5, 10, 110, 0) - 0.5) < 1e-12);
    CHECK(fabs(lr_factor(SCHED_LINEAR, 10, 10, 110, 0) - 1.0) < 1e-12);
    CHECK(fabs(lr_factor(SCHED_LINEAR, 60, 10, 110, 0) - 0.5) < 1e-12);
    CHECK(lr_factor(SCHED_LINEAR, 110, 10, 110, 0) == 0.0 && lr_factor(SCHED_LINEAR, 500, 10, 110, 0) == 0.0);
    CHECK(fabs(lr_factor(SCHED_COSINE, 60, 10, 110, 0.1) - 0.55) < 1e-12);   // halfway: (1 + 0.1) / 2
    CHECK(fabs(lr_factor(SCHED_COSINE, 110, 10, 110, 0.1) - 0.1) < 1e-12);   // the floor
    CHECK(fabs(lr_factor(SCHED_COSINE, 35, 10, 110, 0.0) - 0.5 * (1 + cos(M_PI / 4))) < 1e-12);
    CHECK(lr_factor(SCHED_CONSTANT, 3, 10, 110, 0) == 0.3 && lr_factor(SCHED_CONSTANT, 90, 10, 110, 0) == 1.0);
    CHECK(lr_factor(SCHED_CONSTANT, 0, 0, 110, 0) == 1.0);  // no warmup
}

// The weight-decay factors come from the parameters' roles (group WD_SSM follows train.decay_ssm).
TEST(adamw_decay_flags) {
    ParamTable pt;
    params_init(&pt);
    params_add(&pt, "bigs.encoder.layer.0.dv.weight", 1, (int[]){4}, (ParamRole){.wd = WD_DEFAULT});
    params_add(&pt, "bigs.encoder.layer.0.dv.bias", 1, (int[]){4}, (ParamRole){0});
    params_add(&pt, "bigs.encoder.layer.0.fs4.kernel.C", 1, (int[]){4}, (ParamRole){.wd = WD_SSM});
    params_alloc(&pt);
    AdamW a, b;
    adamw_init(&a, &pt, 1);
    adamw_init(&b, &pt, 0);
    CHECK(a.decay[0] == 1 && a.decay[1] == 0 && a.decay[2] == 1);
    CHECK(b.decay[0] == 1 && b.decay[1] == 0 && b.decay[2] == 0);  // decay_ssm=false spares the SSM
    adamw_free(&a);
    adamw_free(&b);
    params_free(&pt);
}

TEST(train_config_keys) {
    TrainConfig t;
    char err[512];
    train_config_defaults(&t);
    CHECK(t.learning_rate == 6e-4 && t.adam_beta2 == 0.98 && t.lr_scheduler_type == SCHED_COSINE && t.max_predictions_per_seq == 20);
    CHECK(train_config_validate(&t, err, sizeof err) == 0);
    cJSON *j = cJSON_Parse("{\"learning_rate\": 1e-3, \"lr_scheduler_type\": \"linear\", \"max_steps\": 20}");
    CHECK(train_config_from_json(&t, j, "c.json: train", err, sizeof err) == 0 && t.learning_rate == 1e-3 && t.lr_scheduler_type == SCHED_LINEAR && t.max_steps == 20);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"learnin_rate\": 1e-3}");
    CHECK(train_config_from_json(&t, j, "c.json: train", err, sizeof err) == -1 && strstr(err, "\"learnin_rate\"") && strstr(err, "c.json"));
    cJSON_Delete(j);
    j = cJSON_Parse("{\"max_steps\": \"ten\"}");
    CHECK(train_config_from_json(&t, j, "c.json: train", err, sizeof err) == -1 && strstr(err, "expects an integer, got \"ten\""));
    cJSON_Delete(j);
    CHECK(train_config_set(&t, "lr_scheduler_type", "cosine_with_restarts", err, sizeof err) == -1 && strstr(err, "linear|cosine|constant"));
    CHECK(train_config_set(&t, "per_device_train_batch_size", "0", err, sizeof err) == 0 && train_config_validate(&t, err, sizeof err) == -1 &&
          strstr(err, "per_device_train_batch_size"));
}

TEST(checkpoint_folders_are_atomic_and_rotated) {
    ModelConfig c;
    config_defaults(&c);
    c.vocab_size = 40, c.hidden_size = 8, c.num_hidden_layers = 1, c.intermediate_size = 12, c.num_ssm = 2, c.max_position_embeddings = 8;
    Model m, m2;
    model_build(&m, &c, HEAD_MLM);
    model_init_weights(&m, 3);
    AdamW opt, opt2;
    adamw_init(&opt, &m.pt, 1);
    for (int k = 0; k < m.pt.n; k++)  // parameter ranges only: the alignment gaps are not saved
        for (long i = m.pt.info[k].offset; i < m.pt.info[k].offset + m.pt.info[k].numel; i++) { opt.m[i] = 0.001f * (float)i; opt.v[i] = 1e-6f * (float)i; }
    opt.step = 7;
    char out[512], err[512];
    snprintf(out, sizeof out, "%s/run", test_tmpdir());
    mkdir(out, 0755);
    CHECK(ckpt_latest(out) == NULL);
    for (int s = 1; s <= 4; s++) {
        cJSON *st = cJSON_CreateObject();
        cJSON_AddNumberToObject(st, "global_step", s * 10);
        CHECKF(ckpt_save(out, s * 10, &m, &opt, st, NULL, 2, err, sizeof err) == 0, "%s", err);
        cJSON_Delete(st);
    }
    // only the newest two remain, and no temporary folder
    char p[700];
    struct stat sb;
    snprintf(p, sizeof p, "%s/checkpoint-20", out);
    CHECK(stat(p, &sb) != 0);
    snprintf(p, sizeof p, "%s/checkpoint-30", out);
    CHECK(stat(p, &sb) == 0);
    snprintf(p, sizeof p, "%s/checkpoint-40.tmp", out);
    CHECK(stat(p, &sb) != 0);
    // an interrupted save (a .tmp folder, or a folder without trainer_state.json) is never "latest"
    snprintf(p, sizeof p, "%s/checkpoint-50.tmp", out);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/checkpoint-60", out);
    mkdir(p, 0755);
    char *latest = ckpt_latest(out);
    CHECK(latest && strstr(latest, "checkpoint-40") != NULL);
    model_load_dir(&m2, latest, HEAD_AUTO, 0, 0);
    CHECK(memcmp(m.pt.data, m2.pt.data, sizeof(float) * m.pt.size) == 0);
    adamw_init(&opt2, &m2.pt, 1);
    cJSON *state = NULL;
    CHECKF(ckpt_load_optimizer(latest, &m2, &opt2, &state, err, sizeof err) == 0, "%s", err);
    CHECK(opt2.step == 7 && memcmp(opt.m, opt2.m, sizeof(float) * m.pt.size) == 0 && memcmp(opt.v, opt2.v, sizeof(float) * m.pt.size) == 0);
    CHECK(state && cJSON_GetObjectItem(state, "global_step")->valueint == 40);
    cJSON_Delete(state);
    free(latest);
    adamw_free(&opt);
    adamw_free(&opt2);
    model_free(&m);
    model_free(&m2);
}
