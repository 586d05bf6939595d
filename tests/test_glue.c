// test_glue.c: GLUE readers on fixtures in the exact official layout of every task, and a full
// finetune -> eval -> predict run per task on a tiny model; bad inputs.
#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/model/model.h"
#include "data/glue.h"
#include "tests/test.h"

static const char *k_words[] = {"the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "tree", "quickly", "happy", "red", "big", "house", "river"};

static void sentence(char *out, size_t n, int seed) {
    out[0] = 0;
    int len = 4 + seed % 5;
    for (int i = 0; i < len; i++)
        snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? " " : "", k_words[(seed * 7 + i * 3 + i * i) % 16]);
    snprintf(out + strlen(out), n - strlen(out), ".");
}

// Writes DIR/<file> with `rows` rows built by fmt_row(i) under an optional header.
static void write_tsv(const char *dir, const char *file, const char *header, int rows, int test, const char *task) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (header) fprintf(f, "%s\n", header);
    for (int i = 0; i < rows; i++) {
        char a[256], b[256];
        sentence(a, sizeof a, i * 2 + test * 50);
        sentence(b, sizeof b, i * 2 + 1 + test * 50);
        int y = i % 2;
        const char *nli3[3] = {"contradiction", "entailment", "neutral"}, *nli2[2] = {"entailment", "not_entailment"};
        if (!strcmp(task, "cola")) {
            if (test) fprintf(f, "%d\t%s\n", i, a);
            else fprintf(f, "gj04\t%d\t%s\t%s\n", y, y ? "" : "*", a);
        } else if (!strcmp(task, "sst2")) {
            if (test) fprintf(f, "%d\t%s\n", i, a);
            else fprintf(f, "%s \t%d\n", a, y);
        } else if (!strcmp(task, "mrpc")) {
            if (test) fprintf(f, "%d\t%d\t%d\t%s\t%s\n", i, 1000 + i, 2000 + i, a, b);
            else fprintf(f, "%d\t%d\t%d\t%s\t%s\n", y, 1000 + i, 2000 + i, a, b);
        } else if (!strcmp(task, "stsb")) {
            fprintf(f, "%d\tmain-captions\tMSRvid\t2012test\t%04d\tnone\tnone\t%s\t%s", i, i, a, b);
            if (!test) fprintf(f, "\t%.3f", (i * 37 % 50) / 10.0);
            fprintf(f, "\n");
        } else if (!strcmp(task, "qqp")) {
            if (test) fprintf(f, "%d\t%s\t%s\n", i, a, b);
            else {
                fprintf(f, "%d\t%d\t%d\t%s\t%s\t%d\n", i, 2 * i, 2 * i + 1, a, b, y);
                if (i == 3) fprintf(f, "%d\t%d\tbroken row\n", 900, 901);  // skipped, as the reference reader does
            }
        } else if (!strcmp(task, "mnli")) {
            fprintf(f, "%d\t%d\t%de\tfiction\t( %s )\t( %s )\t(ROOT %s)\t(ROOT %s)\t%s\t%s", i, 100 + i, 100 + i, a, b, a, b, a, b);
            if (!test) fprintf(f, "\t%s\t%s", nli3[i % 3], nli3[i % 3]);
            fprintf(f, "\n");
        } else {  // qnli, rte, wnli, ax: index s1 s2 [label]
            fprintf(f, "%d\t%s\t%s", i, a, b);
            if (!test) fprintf(f, "\t%s", !strcmp(task, "wnli") ? (y ? "1" : "0") : nli2[y]);
            fprintf(f, "\n");
        }
    }
    fclose(f);
}

void test_make_glue_task_dir(const char *dir, const char *task) {
    mkdir(dir, 0755);
    const char *hdr = NULL, *thdr = NULL;
    if (!strcmp(task, "cola")) { hdr = NULL; thdr = "index\tsentence"; }
    else if (!strcmp(task, "sst2")) { hdr = "sentence\tlabel"; thdr = "index\tsentence"; }
    else if (!strcmp(task, "mrpc")) { hdr = "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String"; thdr = "index\t#1 ID\t#2 ID\t#1 String\t#2 String"; }
    else if (!strcmp(task, "stsb")) { hdr = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"; thdr = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"; }
    else if (!strcmp(task, "qqp")) { hdr = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"; thdr = "id\tquestion1\tquestion2"; }
    else if (!strcmp(task, "mnli")) {
        hdr = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label";
        thdr = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2";
    } else { hdr = !strcmp(task, "qnli") ? "index\tquestion\tsentence\tlabel" : "index\tsentence1\tsentence2\tlabel"; thdr = "index\tsentence1\tsentence2"; }
    if (!strcmp(task, "ax")) { write_tsv(dir, "AX.tsv", thdr, 5, 1, task); return; }
    if (!strcmp(task, "mnli")) {
        write_tsv(dir, "train.tsv", hdr, 12, 0, task);
        write_tsv(dir, "dev_matched.tsv", hdr, 6, 0, task);
        write_tsv(dir, "dev_mismatched.tsv", hdr, 6, 0, task);
        write_tsv(dir, "test_matched.tsv", thdr, 4, 1, task);
        write_tsv(dir, "test_mismatched.tsv", thdr, 4, 1, task);
        return;
    }
    write_tsv(dir, "train.tsv", hdr, 12, 0, task);
    write_tsv(dir, "dev.tsv", hdr, 6, 0, task);
    write_tsv(dir, "test.tsv", thdr, 4, 1, task);
}

TEST(glue_readers_follow_the_official_layouts) {
    const char *tasks[] = {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"};
    char err[1024], dir[600], path[700];
    for (int k = 0; k < 9; k++) {
        const GlueTask *t = glue_task(tasks[k]);
        snprintf(dir, sizeof dir, "%s/glue_%s", test_tmpdir(), tasks[k]);
        test_make_glue_task_dir(dir, tasks[k]);
        GlueSet s;
        glue_split_path(t, dir, "train", path, sizeof path);
        CHECKF(glue_read(t, path, 0, &s, err, sizeof err) == 0, "%s", err);
        CHECKF(s.n == 12, "%s train: %ld examples", tasks[k], s.n);
        char want[256];
        sentence(want, sizeof want, 2);  // row 1's first text
        CHECKF(!strncmp(s.ex[1].a, want, strlen(want)), "%s: row 1 text a is \"%s\", expected \"%s\"", tasks[k], s.ex[1].a, want);
        if (t->pair) { sentence(want, sizeof want, 3); CHECK(s.ex[1].b && !strcmp(s.ex[1].b, want)); }
        if (t->num_labels == 1) CHECK(fabsf(s.ex[1].score - 3.7f) < 1e-6f);
        else if (!strcmp(tasks[k], "mnli")) CHECK(s.ex[1].label == 1 && s.ex[2].label == 2);
        else CHECK(s.ex[1].label == 1 && s.ex[0].label == 0);
        CHECK_EQ_INT(s.skipped, !strcmp(tasks[k], "qqp") ? 1 : 0);
        glue_free(&s);
        glue_split_path(t, dir, "test", path, sizeof path);
        CHECKF(glue_read(t, path, 1, &s, err, sizeof err) == 0, "%s", err);
        CHECK(s.n == 4 && s.ex[2].index == 2 && s.ex[2].label == -1);
        glue_free(&s);
    }
    // wrong task's folder, unknown label
    const GlueTask *rte = glue_task("rte"), *mnli = glue_task("mnli");
    snprintf(path, sizeof path, "%s/glue_sst2/train.tsv", test_tmpdir());
    GlueSet s;
    CHECK(glue_read(rte, path, 0, &s, err, sizeof err) == -1 && strstr(err, "train.tsv:2:") && strstr(err, "right task"));
    snprintf(path, sizeof path, "%s/glue_rte/train.tsv", test_tmpdir());
    CHECK(glue_read(mnli, path, 0, &s, err, sizeof err) == -1 && strstr(err, "columns"));
    snprintf(path, sizeof path, "%s/glue_wnli/dev.tsv", test_tmpdir());
    CHECK(glue_read(rte, path, 0, &s, err, sizeof err) == -1 && strstr(err, "unknown label \"0\"") && strstr(err, "dev.tsv:2:"));
}

static int run(const char *cmd, char *out, size_t n) { return test_run(cmd, out, n); }

void test_make_tiny_model(const char *dir, int positions, uint64_t seed) {
    char vocab[600];
    snprintf(vocab, sizeof vocab, "%s/tokenizer/vocab-uncased.txt", test_data_dir());
    ModelConfig c;
    config_defaults(&c);
    c.hidden_size = 16, c.num_hidden_layers = 1, c.intermediate_size = 24, c.num_ssm = 4, c.max_position_embeddings = positions;
    Model m;
    model_build(&m, &c, HEAD_MLM);
    model_init_weights(&m, seed);
    model_save_dir(&m, dir, vocab);
    model_free(&m);
}

TEST(glue_finetune_eval_predict_every_task) {
    char base[600], cmd[4096], out[16384];
    snprintf(base, sizeof base, "%s/glue_base", test_tmpdir());
    test_make_tiny_model(base, 32, 3);
    const char *tasks[] = {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"};
    const char *subs[] = {"CoLA.tsv", "SST-2.tsv", "MRPC.tsv", "STS-B.tsv", "QQP.tsv", "MNLI-m.tsv", "QNLI.tsv", "RTE.tsv", "WNLI.tsv"};
    for (int k = 0; k < 9; k++) {
        char dir[600], outdir[600], sub[700];
        snprintf(dir, sizeof dir, "%s/glue_%s", test_tmpdir(), tasks[k]);
        test_make_glue_task_dir(dir, tasks[k]);
        snprintf(outdir, sizeof outdir, "%s/ft_%s", test_tmpdir(), tasks[k]);
        snprintf(cmd, sizeof cmd, "%s finetune --task %s --data %s --model %s --output %s --quiet --threads 1 "
                 "--set train.num_train_epochs=2 --set train.per_device_train_batch_size=4 --set train.learning_rate=1e-3",
                 test_bigs_bin(), tasks[k], dir, base, outdir);
        int rc = run(cmd, out, sizeof out);
        CHECKF(rc == 0 && strstr(out, "\"global_step\":6"), "%s finetune (%d): %s", tasks[k], rc, out);
        snprintf(cmd, sizeof cmd, "%s eval --task %s --data %s --model %s", test_bigs_bin(), tasks[k], dir, outdir);
        rc = run(cmd, out, sizeof out);
        const char *metric = k == 0 ? "\"mcc\"" : k == 3 ? "\"spearmanr\"" : (k == 2 || k == 4) ? "\"f1\"" : "\"accuracy\"";
        CHECKF(rc == 0 && strstr(out, metric) && strstr(out, "\"examples\":6"), "%s eval: %s", tasks[k], out);
        // the test split writes the leaderboard file
        snprintf(sub, sizeof sub, "%s/%s", test_tmpdir(), subs[k]);
        snprintf(cmd, sizeof cmd, "%s eval --task %s --data %s --model %s --split test --predictions %s", test_bigs_bin(), tasks[k], dir, outdir, sub);
        CHECKF(run(cmd, out, sizeof out) == 0, "%s test: %s", tasks[k], out);
        size_t len;
        const char *e;
        char *txt = file_read_all(sub, &len, &e);
        int lines = 0;
        for (size_t i = 0; txt && i < len; i++) lines += txt[i] == '\n';
        CHECKF(txt && !strncmp(txt, "index\tprediction\n0\t", 19) && lines == 5, "%s: submission file:\n%s", tasks[k], txt ? txt : "(none)");
        if (k == 5) CHECK(strstr(txt, "\tentailment\n") || strstr(txt, "\tneutral\n") || strstr(txt, "\tcontradiction\n"));
        free(txt);
        // predict on a pair from the command line
        snprintf(cmd, sizeof cmd, "%s predict --model %s --text 'the cat sat.' --text-pair 'a dog ran.'", test_bigs_bin(), outdir);
        CHECKF(run(cmd, out, sizeof out) == 0 && strstr(out, k == 3 ? "{\"score\":" : "{\"label\":"), "%s predict: %s", tasks[k], out);
        // the MNLI model also scores the diagnostic set (AX)
        if (k == 5) {
            char ax[600];
            snprintf(ax, sizeof ax, "%s/glue_ax", test_tmpdir());
            test_make_glue_task_dir(ax, "ax");
            snprintf(cmd, sizeof cmd, "cd %s && %s eval --task ax --data %s --model %s", test_tmpdir(), test_bigs_bin(), ax, outdir);
            CHECKF(run(cmd, out, sizeof out) == 0 && strstr(out, "\"predictions\":\"AX.tsv\""), "ax: %s", out);
            snprintf(cmd, sizeof cmd, "%s eval --task mnli --split dev_mismatched --data %s --model %s", test_bigs_bin(), dir, outdir);
            CHECK(run(cmd, out, sizeof out) == 0 && strstr(out, "\"split\":\"dev_mismatched\""));
        }
    }
    // a model of the wrong label count; an MLM model given to eval; an unknown task
    char dir[600], outdir[600];
    snprintf(dir, sizeof dir, "%s/glue_mnli", test_tmpdir());
    snprintf(outdir, sizeof outdir, "%s/ft_sst2", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s eval --task mnli --data %s --model %s", test_bigs_bin(), dir, outdir);
    CHECK(run(cmd, out, sizeof out) == 1 && strstr(out, "has 2 labels but mnli needs 3"));
    snprintf(cmd, sizeof cmd, "%s eval --task sst2 --data %s/glue_sst2 --model %s", test_bigs_bin(), test_tmpdir(), base);
    CHECK(run(cmd, out, sizeof out) == 1 && strstr(out, "is not a sequence classification model"));
    snprintf(cmd, sizeof cmd, "%s finetune --task glu --data %s --model %s --output %s/x", test_bigs_bin(), dir, base, test_tmpdir());
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "unknown task 'glu'"));
    // finetuning an SST-2 model on MNLI re-initialises the classifier (3 labels) with a message
    snprintf(cmd, sizeof cmd, "%s finetune --task mnli --data %s --model %s --output %s/ft_again --threads 1 --set train.max_steps=2",
             test_bigs_bin(), dir, outdir, test_tmpdir());
    CHECK(run(cmd, out, sizeof out) == 0 && strstr(out, "has 2 labels and mnli needs 3"));
}

TEST(glue_finetune_refuses_a_vocabulary_that_does_not_fit) {
    char base[600], cmd[4096], out[4096], dir[600], vocab[700];
    snprintf(base, sizeof base, "%s/glue_badvocab", test_tmpdir());
    ModelConfig c;
    config_defaults(&c);
    c.hidden_size = 8, c.num_hidden_layers = 1, c.intermediate_size = 8, c.num_ssm = 2, c.max_position_embeddings = 16;
    Model m;
    model_build(&m, &c, HEAD_MLM);
    snprintf(vocab, sizeof vocab, "%s/small_vocab.txt", test_tmpdir());
    FILE *f = fopen(vocab, "w");
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n", f);
    fclose(f);
    model_save_dir(&m, base, vocab);
    model_free(&m);
    snprintf(dir, sizeof dir, "%s/glue_sst2_v", test_tmpdir());
    test_make_glue_task_dir(dir, "sst2");
    snprintf(cmd, sizeof cmd, "%s finetune --task sst2 --data %s --model %s --output %s/ftv", test_bigs_bin(), dir, base, test_tmpdir());
    CHECK(test_run(cmd, out, sizeof out) == 1 && strstr(out, "vocab.txt has 6 tokens but the model's vocab_size is 30522"));
}

// finetune writes checkpoints; stopped (as by SIGTERM) mid-epoch or at an epoch's end and resumed, it ends
// bitwise where an uninterrupted run ends, with the same best dev step and metrics.
TEST(glue_finetune_stops_and_resumes_bitwise) {
    char base[600], dir[600], o[3][600], cmd[4096], out[16384], a[700], b[700];
    snprintf(base, sizeof base, "%s/glue_resume_base", test_tmpdir());
    test_make_tiny_model(base, 32, 5);
    snprintf(dir, sizeof dir, "%s/glue_resume_rte", test_tmpdir());
    test_make_glue_task_dir(dir, "rte");
    // 12 examples, batch 4: 3 steps an epoch, 9 in all; checkpoints every 2 steps
    const char *opts = "--threads 1 --quiet --set train.num_train_epochs=3 --set train.per_device_train_batch_size=4 "
                       "--set train.learning_rate=1e-3 --set train.save_steps=2";
    const int stop_at[3] = {0, 3, 4};  // uninterrupted; at an epoch's end; mid-epoch
    for (int k = 0; k < 3; k++) {
        snprintf(o[k], sizeof o[k], "%s/glue_resume_%d", test_tmpdir(), k);
        char env[64] = "";
        if (stop_at[k]) snprintf(env, sizeof env, "BIGS_STOP_AFTER_STEP=%d ", stop_at[k]);
        snprintf(cmd, sizeof cmd, "%s%s finetune --task rte --data %s --model %s --output %s %s", env, test_bigs_bin(), dir, base, o[k], opts);
        int rc = test_run(cmd, out, sizeof out);
        CHECKF(rc == (stop_at[k] ? 143 : 0), "finetune (stop after %d) exited %d: %s", stop_at[k], rc, out);
        if (!stop_at[k]) continue;
        snprintf(a, sizeof a, "%s/checkpoint-%d/trainer_state.json", o[k], stop_at[k]);
        struct stat sb;
        CHECKF(stat(a, &sb) == 0, "the stop should leave %s", a);
        snprintf(a, sizeof a, "%s/all_results.json", o[k]);
        CHECK(stat(a, &sb) != 0);  // not finished: no results yet
        snprintf(cmd, sizeof cmd, "%s finetune --task rte --data %s --model %s --output %s %s --resume", test_bigs_bin(), dir, base, o[k], opts);
        rc = test_run(cmd, out, sizeof out);
        CHECKF(rc == 0 && strstr(out, "\"global_step\":9"), "resume after %d: %d %s", stop_at[k], rc, out);
        snprintf(a, sizeof a, "%s/model.safetensors", o[0]);
        snprintf(b, sizeof b, "%s/model.safetensors", o[k]);
        CHECKF(test_files_equal(a, b), "stopped after %d and resumed: the best model differs from the uninterrupted run's", stop_at[k]);
        snprintf(a, sizeof a, "%s/checkpoint-9/model.safetensors", o[0]);
        snprintf(b, sizeof b, "%s/checkpoint-9/model.safetensors", o[k]);
        CHECKF(test_files_equal(a, b), "stopped after %d and resumed: the last parameters differ", stop_at[k]);
        snprintf(a, sizeof a, "%s/eval_results.json", o[0]);
        snprintf(b, sizeof b, "%s/eval_results.json", o[k]);
        CHECKF(test_files_equal(a, b), "stopped after %d and resumed: eval_results.json differs", stop_at[k]);
    }
    // a checkpoint of another task is refused
    snprintf(dir, sizeof dir, "%s/glue_resume_mrpc", test_tmpdir());
    test_make_glue_task_dir(dir, "mrpc");
    snprintf(cmd, sizeof cmd, "%s finetune --task mrpc --data %s --model %s --output %s %s --resume", test_bigs_bin(), dir, base, o[1], opts);
    CHECK(test_run(cmd, out, sizeof out) == 1 && strstr(out, "is a checkpoint of task rte, not mrpc"));
}
