// test_predict.c: `bigs predict` on saved models: top-k fills of every [MASK], classifier labels.
#include <cjson/cJSON.h>
#include <string.h>

#include "core/base/common.h"
#include "core/model/model.h"
#include "tests/test.h"

static void save_model(const char *dir, HeadType head, int num_labels) {
    ModelConfig c;
    config_defaults(&c);
    c.hidden_size = 16, c.num_hidden_layers = 1, c.intermediate_size = 24, c.num_ssm = 4, c.max_position_embeddings = 32;
    c.num_labels = num_labels;
    if (num_labels == 3) { strcpy(c.id2label[0], "contradiction"); strcpy(c.id2label[1], "entailment"); strcpy(c.id2label[2], "neutral"); }
    Model m;
    model_build(&m, &c, head);
    model_init_weights(&m, 9);
    char vocab[600];
    snprintf(vocab, sizeof vocab, "%s/tokenizer/vocab-uncased.txt", test_data_dir());
    model_save_dir(&m, dir, vocab);
    model_free(&m);
}

TEST(predict_fills_masks_with_top_k) {
    char dir[512], cmd[4096], out[16384];
    snprintf(dir, sizeof dir, "%s/pred_mlm", test_tmpdir());
    save_model(dir, HEAD_MLM, 2);
    snprintf(cmd, sizeof cmd, "%s predict --model %s --text 'the capital of [MASK] is [MASK].' --top-k 4 2>/dev/null", test_bigs_bin(), dir);
    CHECK_EQ_INT(test_run(cmd, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    const cJSON *masks = j ? cJSON_GetObjectItem(j, "masks") : NULL;
    CHECKF(cJSON_GetArraySize(masks) == 2, "output: %s", out);
    for (int k = 0; k < cJSON_GetArraySize(masks); k++) {
        const cJSON *list = cJSON_GetArrayItem(masks, k);
        CHECK(cJSON_GetArraySize(list) == 4);
        double prev = 2, sum = 0;
        for (const cJSON *e = list->child; e; e = e->next) {
            double s = cJSON_GetObjectItem(e, "score")->valuedouble;
            CHECK(s <= prev && s > 0);
            prev = s;
            sum += s;
            CHECK(cJSON_IsString(cJSON_GetObjectItem(e, "token")) && cJSON_GetObjectItem(e, "id")->valueint < 30522);
        }
        CHECK(sum < 1.0);
    }
    cJSON_Delete(j);
    // --ids and --input give the same fills for the same tokens
    char in[600], out2[16384];
    snprintf(in, sizeof in, "%s/pred_in.txt", test_tmpdir());
    FILE *f = fopen(in, "w");
    fputs("the capital of [MASK] is [MASK].\nno mask here\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s predict --model %s --input %s --top-k 4 2>/dev/null", test_bigs_bin(), dir, in);
    CHECK(test_run(cmd, out2, sizeof out2) == 0 && !strncmp(out, out2, strlen(out)) && strstr(out2 + strlen(out), "{\"masks\":[]}"));
    snprintf(cmd, sizeof cmd, "%s predict --model %s --ids '101 1996 3007 1997 103 2003 103 1012 102' --top-k 4", test_bigs_bin(), dir);
    CHECK(test_run(cmd, out2, sizeof out2) == 0 && !strcmp(out, out2));
    // errors
    snprintf(cmd, sizeof cmd, "%s predict --model %s --text 'nothing to fill'", test_bigs_bin(), dir);
    CHECK(test_run(cmd, out, sizeof out) == 1 && strstr(out, "no [MASK]"));
    snprintf(cmd, sizeof cmd, "%s predict --model %s --ids '1 2 99999'", test_bigs_bin(), dir);
    CHECK(test_run(cmd, out, sizeof out) == 1 && strstr(out, "99999"));
    snprintf(cmd, sizeof cmd, "%s predict --model %s/nope --text '[MASK]'", test_bigs_bin(), dir);
    CHECK(test_run(cmd, out, sizeof out) == 1 && strstr(out, "nope: no such file"));
}

TEST(predict_classifies_with_label_names) {
    char dir[512], cmd[4096], out[8192];
    snprintf(dir, sizeof dir, "%s/pred_cls", test_tmpdir());
    save_model(dir, HEAD_SEQCLS, 3);
    snprintf(cmd, sizeof cmd, "%s predict --model %s --text 'a man is eating.' --text-pair 'someone eats.'", test_bigs_bin(), dir);
    CHECK_EQ_INT(test_run(cmd, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    const cJSON *label = j ? cJSON_GetObjectItem(j, "label") : NULL, *scores = j ? cJSON_GetObjectItem(j, "scores") : NULL;
    CHECKF(cJSON_IsString(label) && cJSON_GetArraySize(scores) == 3, "output: %s", out);
    double sum = 0, best = 0;
    for (const cJSON *e = scores ? scores->child : NULL; e; e = e->next) { sum += e->valuedouble; best = fmax(best, e->valuedouble); }
    CHECK(fabs(sum - 1) < 1e-5 && fabs(cJSON_GetObjectItem(scores, label->valuestring)->valuedouble - best) < 1e-12);
    cJSON_Delete(j);
    snprintf(dir, sizeof dir, "%s/pred_reg", test_tmpdir());
    save_model(dir, HEAD_SEQCLS, 1);
    snprintf(cmd, sizeof cmd, "%s predict --model %s --text 'a man is eating.' --text-pair 'someone eats.'", test_bigs_bin(), dir);
    CHECK(test_run(cmd, out, sizeof out) == 0 && !strncmp(out, "{\"score\":", 9));
}
