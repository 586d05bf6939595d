// test_scrolls.c: SQuAD normalisation against Python's (the expected strings were computed with the
// SQuAD normalize_answer), exact match over several golds, and the SCROLLS readers.
#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/model/model.h"
#include "data/scrolls.h"
#include "tests/test.h"

TEST(scrolls_normalisation_matches_squad) {
    const char *cases[][2] = {
        {"The Cat", "cat"},
        {"  a  man,  an apple and THE end. ", "man apple and end"},
        {"theater an-tenna a.m.", "theater antenna am"},
        {"Not mentioned", "not mentioned"},
        {"\xC3\x85ngstr\xC3\xB6m\xE2\x80\x99s \xE2\x80\x94 the\xE2\x80\x94" "end", "\xC3\xA5ngstr\xC3\xB6m\xE2\x80\x99s \xE2\x80\x94 \xE2\x80\x94" "end"},
        {"THE", ""},
        {"anthem of a nation", "anthem of nation"},
        {"the_the a_b", "thethe ab"},
        {"\xC3\x89lan vital: an \xC3\x89LAN!", "\xC3\xA9lan vital \xC3\xA9lan"},
        {"tab\there\nnew line", "tab here new line"},
        {"", ""},
        {"...", ""},
        {"a", ""},
        {"x the y\xC2\xA0the z", "x y z"},
        {"caf\xC3\xA9 THE Caf\xC3\xA9", "caf\xC3\xA9 caf\xC3\xA9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = scrolls_normalize(cases[i][0]);
        CHECKF(!strcmp(got, cases[i][1]), "normalize(\"%s\") = \"%s\", expected \"%s\"", cases[i][0], got, cases[i][1]);
        free(got);
    }
    char *golds[] = {"The Entailment", "not mentioned!"};
    CHECK(scrolls_exact_match("entailment", golds, 2) == 100.0);
    CHECK(scrolls_exact_match("Not  Mentioned", golds, 2) == 100.0);
    CHECK(scrolls_exact_match("contradiction", golds, 2) == 0.0);
    CHECK(scrolls_exact_match("x", golds, 0) == 0.0);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

TEST(scrolls_readers) {
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/cnli.jsonl", test_tmpdir());
    write_file(path,
               "{\"id\": \"c1\", \"pid\": \"c1_0\", \"input\": \"Some obligations survive.\\n\\nThe contract text. It is long.\", \"output\": \"Entailment\"}\n"
               "{\"id\": \"c2\", \"pid\": \"c2_0\", \"input\": \"No sharing.\\n\\nAnother contract.\", \"output\": \"Not mentioned\"}\n"
               "{\"id\": \"c2\", \"pid\": \"c2_1\", \"input\": \"No sharing.\\n\\nAnother contract.\", \"output\": \"Contradiction\"}\n");
    ScrollsSet s;
    CHECKF(scrolls_read(SCROLLS_CONTRACT_NLI, path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(s.n == 2 && !strcmp(s.ex[0].query, "Some obligations survive.") && !strcmp(s.ex[0].doc, "The contract text. It is long."));
    CHECK(s.ex[0].label == 0 && s.ex[1].label == 2 && s.ex[1].ngold == 2 && !strcmp(s.ex[1].golds[1], "Contradiction"));
    scrolls_free(&s);
    snprintf(path, sizeof path, "%s/quality.jsonl", test_tmpdir());
    write_file(path,
               "{\"id\": \"q1\", \"pid\": \"q1_0\", \"input\": \"Why did  she leave?\\n\\n(A) To find work\\n(B)  Because of the war \\n(C) She did not\\n(D) For love\\n\\nTHE ARTICLE\\n\\nIt was a dark night.\", \"output\": \"Because of the war\"}\n"
               "{\"id\": \"q2\", \"pid\": \"q2_0\", \"input\": \"Who?\\n\\n(A) Ann (B) Bob (C) Cy (D) Di\\n\\nText.\", \"output\": \"\"}\n");
    CHECKF(scrolls_read(SCROLLS_QUALITY, path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(s.n == 2 && !strcmp(s.ex[0].query, "Why did she leave?") && !strcmp(s.ex[0].options[1], "Because of the war"));
    CHECK(!strcmp(s.ex[0].options[3], "For love") && !strcmp(s.ex[0].doc, "THE ARTICLE\n\nIt was a dark night.") && s.ex[0].label == 1);
    CHECK(!strcmp(s.ex[1].options[0], "Ann") && !strcmp(s.ex[1].options[3], "Di") && s.ex[1].label == -1 && s.ex[1].ngold == 0);
    scrolls_free(&s);
    // bad inputs name the line
    write_file(path, "{\"id\": \"q1\", \"input\": \"no options here\", \"output\": \"x\"}\n");
    CHECK(scrolls_read(SCROLLS_QUALITY, path, &s, err, sizeof err) == -1 && strstr(err, "quality.jsonl:1:"));
    write_file(path, "{\"id\": \"c1\", \"input\": \"h\\n\\nc\", \"output\": \"Maybe\"}\n");
    CHECK(scrolls_read(SCROLLS_CONTRACT_NLI, path, &s, err, sizeof err) == -1 && strstr(err, "none of the labels"));
    write_file(path, "not json\n");
    CHECK(scrolls_read(SCROLLS_CONTRACT_NLI, path, &s, err, sizeof err) == -1 && strstr(err, ":1: expected a JSON object"));
}

// A long document of about `words` words (more than 4096 tokens for 5000 words).
static void long_doc(char *out, size_t n, int words, int seed) {
    static const char *w[] = {"the", "party", "shall", "not", "disclose", "any", "confidential", "information", "to", "third", "persons", "without", "consent", "agreement", "term", "notice"};
    size_t k = 0;
    for (int i = 0; i < words && k + 16 < n; i++) k += (size_t)snprintf(out + k, n - k, "%s%s", i ? (i % 17 ? " " : ". ") : "", w[(i * 7 + seed * 3 + i / 5) % 16]);
}

static void json_line(FILE *f, const char *id, const char *input, const char *output) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "pid", id);
    cJSON_AddStringToObject(o, "input", input);
    cJSON_AddStringToObject(o, "output", output);
    char *t = cJSON_PrintUnformatted(o);
    fprintf(f, "%s\n", t);
    free(t);
    cJSON_Delete(o);
}

void test_make_scrolls_dir(const char *dir, int quality) {
    mkdir(dir, 0755);
    const char *splits[3] = {"train", "validation", "test"};
    int counts[3] = {4, 3, 2};
    char *doc = xmalloc(1 << 16), *input = xmalloc(1 << 17);
    for (int s = 0; s < 3; s++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s.jsonl", dir, splits[s]);
        FILE *f = fopen(path, "w");
        for (int i = 0; i < counts[s]; i++) {
            char id[32];
            snprintf(id, sizeof id, "%s-%d", splits[s], i);
            long_doc(doc, 1 << 16, 5000, i + s);
            const char *out;
            if (quality) {
                const char *opts[4] = {"the first party", "a third person", "nobody at all", "the court"};
                snprintf(input, 1 << 17, "Who may receive the information?\n\n(A) %s\n(B) %s\n(C) %s\n(D) %s\n\n%s", opts[0], opts[1], opts[2], opts[3], doc);
                out = s == 2 ? "" : opts[i % 4];
            } else {
                snprintf(input, 1 << 17, "Confidential information shall not be disclosed.\n\n%s", doc);
                out = s == 2 ? "" : scrolls_contract_labels[i % 3];
            }
            json_line(f, id, input, out);
            if (s == 1 && i == 0 && !quality) json_line(f, id, input, "Not mentioned");  // a second gold answer
        }
        fclose(f);
    }
    free(doc);
    free(input);
}

TEST(scrolls_finetune_and_eval_at_4096) {
    char base[600], bert[600], vocab[600], cmd[4096], out[16384];
    snprintf(vocab, sizeof vocab, "%s/tokenizer/vocab-uncased.txt", test_data_dir());
    snprintf(base, sizeof base, "%s/scrolls_base", test_tmpdir());
    snprintf(bert, sizeof bert, "%s/scrolls_bert", test_tmpdir());
    ModelConfig c;
    config_defaults(&c);
    c.hidden_size = 16, c.num_hidden_layers = 1, c.intermediate_size = 24, c.num_ssm = 4, c.max_position_embeddings = 64;
    Model m;
    model_build(&m, &c, HEAD_MLM);
    model_init_weights(&m, 5);
    model_save_dir(&m, base, vocab);
    model_free(&m);
    c.block = block_index("stack"), c.routing = mixer_index("attention"), c.num_attention_heads = 2, c.pre_norm = 0, c.pooler_type = POOL_CLS;
    model_build(&m, &c, HEAD_MLM);
    model_init_weights(&m, 5);
    model_save_dir(&m, bert, vocab);
    model_free(&m);
    const char *tasks[2] = {"contract_nli", "quality"};
    for (int q = 0; q < 2; q++) {
        char dir[600], ft[600], pred[700];
        snprintf(dir, sizeof dir, "%s/scrolls_%s", test_tmpdir(), tasks[q]);
        test_make_scrolls_dir(dir, q);
        snprintf(ft, sizeof ft, "%s/ft_%s", test_tmpdir(), tasks[q]);
        snprintf(cmd, sizeof cmd, "%s finetune --task %s --data %s --model %s --output %s --threads 2 --set train.num_train_epochs=1 "
                 "--set train.per_device_train_batch_size=2 --set train.per_device_eval_batch_size=2 --set train.learning_rate=1e-3 2>&1",
                 test_bigs_bin(), tasks[q], dir, base, ft);
        int rc = test_run(cmd, out, sizeof out);
        CHECKF(rc == 0 && strstr(out, "max length 4096") && strstr(out, "grows to 4096 rows") && strstr(out, "\"eval_exact_match\""),
               "%s finetune (%d): %s", tasks[q], rc, out);
        snprintf(pred, sizeof pred, "%s/pred_%s.json", test_tmpdir(), tasks[q]);
        snprintf(cmd, sizeof cmd, "%s eval --task %s --data %s --model %s --predictions %s --batch-size 2", test_bigs_bin(), tasks[q], dir, ft, pred);
        rc = test_run(cmd, out, sizeof out);
        CHECKF(rc == 0 && strstr(out, "\"exact_match\"") && strstr(out, "\"examples\":3"), "%s eval: %s", tasks[q], out);
        size_t len;
        const char *e;
        char *txt = file_read_all(pred, &len, &e);
        cJSON *pj = txt ? cJSON_Parse(txt) : NULL;
        CHECKF(cJSON_GetArraySize(pj) == 3 && cJSON_IsString(cJSON_GetObjectItem(pj, "validation-2")), "predictions: %s", txt ? txt : "(none)");
        cJSON_Delete(pj);
        free(txt);
        snprintf(cmd, sizeof cmd, "cd %s && %s eval --task %s --split test --data %s --model %s --batch-size 2", test_tmpdir(), test_bigs_bin(), tasks[q], dir, ft);
        CHECKF(test_run(cmd, out, sizeof out) == 0 && strstr(out, "\"predictions\":\"") && strstr(out, ".json\""), "%s test: %s", tasks[q], out);
    }
    // attention routing keeps its max length and says so
    char dir[600];
    snprintf(dir, sizeof dir, "%s/scrolls_contract_nli", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s finetune --task contract_nli --data %s --model %s --output %s/ft_bert --threads 2 --set train.max_steps=1 2>&1",
             test_bigs_bin(), dir, bert, test_tmpdir());
    CHECKF(test_run(cmd, out, sizeof out) == 0 && strstr(out, "truncated to its max_position_embeddings 64"), "%s", out);
}

TEST(scrolls_quality_option_parser_edge_cases) {
    char *q, *o[4], *art;
    // options spread over lines, extra spaces, parentheses inside an option, a long article with blank lines
    CHECK(scrolls_parse_quality("What  happened\nnext?\n\n(A)  He left\n  for good\n(B) She (the captain) stayed\n(C)It burned (D) Nothing\n\nPart one.\n\nPart two.",
                                &q, o, &art) == 0);
    CHECK(!strcmp(q, "What happened next?") && !strcmp(o[0], "He left for good") && !strcmp(o[1], "She (the captain) stayed"));
    CHECK(!strcmp(o[2], "It burned") && !strcmp(o[3], "Nothing") && !strcmp(art, "Part one.\n\nPart two."));
    free(q); free(art);
    for (int k = 0; k < 4; k++) free(o[k]);
    // layouts that are not QuALITY's: no blank line, a missing option, options out of order, no article
    CHECK(scrolls_parse_quality("question (A) a (B) b (C) c (D) d", &q, o, &art) == -1);
    CHECK(scrolls_parse_quality("q?\n\n(A) a\n(B) b\n(D) d\n\narticle", &q, o, &art) == -1);
    CHECK(scrolls_parse_quality("q?\n\n(B) b\n(A) a\n(C) c\n(D) d\n\narticle", &q, o, &art) == -1);
    CHECK(scrolls_parse_quality("q?\n\n(A) a\n(B) b\n(C) c\n(D) d", &q, o, &art) == -1);
}
