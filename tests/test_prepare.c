// test_prepare.c: `bigs prepare` round trip (every token of the input comes back once per epoch, in
// order without shuffling) and its bad-input errors.
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "tests/test.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static const char *k_docs =
    "The quick brown fox jumps over the lazy dog.\n"
    "A second sentence of the first document, with some punctuation!\n"
    "\n"
    "Second document: État, naïve café; ünïcödé is lowercased and stripped.\n"
    "It has a very long sentence that goes on and on and on so that it must be split across several "
    "sequences because the maximum length in this test is only sixteen tokens long, which is short.\n"
    "\n\n\n"
    "Third document.\r\n"
    "Last line without a newline";

TEST(prepare_round_trips_every_token) {
    char dir[512], in[600], jl[600], out[600], cmd[4096], log[8192], vocab[600];
    snprintf(vocab, sizeof vocab, "%s/tokenizer/vocab-uncased.txt", test_data_dir());
    snprintf(dir, sizeof dir, "%s/prep", test_tmpdir());
    mkdir(dir, 0755);
    snprintf(in, sizeof in, "%s/docs.txt", dir);
    write_file(in, k_docs);
    snprintf(jl, sizeof jl, "%s/more.jsonl", dir);
    write_file(jl, "{\"text\": \"JSON lines hold one document each.\\nWith two sentences.\", \"id\": 1}\n\n{\"text\": \"And another.\"}\n");
    snprintf(out, sizeof out, "%s/shards", dir);
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s --input %s %s --output %s --max-len 16 --val-fraction 0 --short-seq-prob 0 --quiet",
             test_bigs_bin(), vocab, in, jl, out);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0 && strstr(log, "\"documents\":5"), "prepare: %d %s", rc, log);
    // the expected token stream: every non-blank line, tokenized, in input order
    Tokenizer *tok = tok_load(vocab, 1);
    int32_t want[4096], got[4096];
    int nw = 0, ng = 0;
    const char *lines[] = {"The quick brown fox jumps over the lazy dog.", "A second sentence of the first document, with some punctuation!",
                           "Second document: État, naïve café; ünïcödé is lowercased and stripped.",
                           "It has a very long sentence that goes on and on and on so that it must be split across several "
                           "sequences because the maximum length in this test is only sixteen tokens long, which is short.",
                           "Third document.", "Last line without a newline", "JSON lines hold one document each.", "With two sentences.", "And another."};
    for (int i = 0; i < 9; i++) nw += tok_encode(tok, lines[i], strlen(lines[i]), want + nw, 4096 - nw);
    char err[512];
    Loader l;
    CHECKF(loader_open(&l, out, "train", 0, 0, 1, 0, err, sizeof err) == 0, "%s", err);
    long n = loader_epoch_size(&l);
    for (long s = 0; s < n; s++) {
        const int32_t *ids;
        uint32_t len;
        CHECK(loader_next(&l, &ids, &len, NULL, err, sizeof err) == 0);
        CHECK(len <= 16 && len >= 3 && ids[0] == 101 && ids[len - 1] == 102);
        for (uint32_t j = 1; j + 1 < len; j++) got[ng++] = ids[j];
    }
    loader_close(&l);
    CHECK_EQ_INT(ng, nw);
    CHECK(ng == nw && memcmp(got, want, sizeof(int32_t) * (size_t)nw) == 0);
    tok_free(tok);
    // meta.json and vocab.txt are there; a second prepare into the same folder refuses
    char p[700];
    struct stat sb;
    snprintf(p, sizeof p, "%s/vocab.txt", out);
    CHECK(stat(p, &sb) == 0 && sb.st_size == 231508);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 1 && strstr(log, "already holds a shard set") && strstr(log, "--force"), "%d %s", rc, log);
    // --force replaces the set: a stale shard of the earlier one is removed, never read with the new ones
    char stale[700], cmd2[4300];
    snprintf(stale, sizeof stale, "%s/train-00099.bin", out);
    FILE *f = fopen(stale, "w");
    fputs("stale", f);
    fclose(f);
    snprintf(cmd2, sizeof cmd2, "%s --force", cmd);
    rc = test_run(cmd2, log, sizeof log);
    CHECKF(rc == 0 && stat(stale, &sb) != 0 && stat(p, &sb) == 0, "%d %s", rc, log);
    // a model's folder, or anything else, is never written over, --force or not
    char model[700];
    snprintf(model, sizeof model, "%s/model", dir);
    test_make_tiny_model(model, 16, 1);
    snprintf(cmd2, sizeof cmd2, "%s prepare --vocab %s --input %s --output %s --force --quiet", test_bigs_bin(), vocab, in, model);
    rc = test_run(cmd2, log, sizeof log);
    CHECKF(rc == 1 && strstr(log, "did not write") && strstr(log, "model"), "%d %s", rc, log);
    snprintf(p, sizeof p, "%s/train-00000.bin", model);
    CHECK(stat(p, &sb) != 0);
    // a nested --output is created with its parents
    snprintf(cmd2, sizeof cmd2, "%s prepare --vocab %s --input %s --output %s/deep/er/shards --quiet", test_bigs_bin(), vocab, in, dir);
    CHECKF(test_run(cmd2, log, sizeof log) == 0, "%s", log);
}

TEST(prepare_bad_input) {
    char dir[512], cmd[4096], log[8192], vocab[600], p[700];
    snprintf(vocab, sizeof vocab, "%s/tokenizer/vocab-uncased.txt", test_data_dir());
    snprintf(dir, sizeof dir, "%s/prep_bad", test_tmpdir());
    mkdir(dir, 0755);
    // empty input
    snprintf(p, sizeof p, "%s/empty.txt", dir);
    write_file(p, "\n\n   \n");
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s --input %s --output %s/o1 --quiet", test_bigs_bin(), vocab, p, dir);
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "no text found"));
    // a vocabulary without the special tokens
    char v2[700];
    snprintf(v2, sizeof v2, "%s/vocab_nospecial.txt", dir);
    write_file(v2, "[UNK]\nhello\nworld\n");
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s --input %s --output %s/o2 --quiet", test_bigs_bin(), v2, p, dir);
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "vocab_nospecial.txt") && strstr(log, "[PAD]"));
    // a missing input, a malformed JSON line
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s --input %s/nothere.txt --output %s/o3", test_bigs_bin(), vocab, dir, dir);
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "nothere.txt: no such file"));
    snprintf(p, sizeof p, "%s/bad.jsonl", dir);
    write_file(p, "{\"text\": \"fine\"}\n{\"txt\": \"no text field\"}\n");
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s --input %s --output %s/o4 --quiet", test_bigs_bin(), vocab, p, dir);
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "bad.jsonl:2:"));
    // binary garbage and a 100 MB line: no crash, sensible output
    snprintf(p, sizeof p, "%s/garbage.bin", dir);
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 200000; i++) fputc((i * 7919 + (i >> 3)) & 255, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s --input %s --output %s/o5 --quiet", test_bigs_bin(), vocab, p, dir);
    CHECK(test_run(cmd, log, sizeof log) == 0);
    snprintf(p, sizeof p, "%s/huge.txt", dir);
    f = fopen(p, "wb");
    char chunk[1 << 16];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 1600; i++) fwrite(chunk, 1, sizeof chunk, f);  // 100 MiB, no newline
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s --input %s --output %s/o6 --quiet", test_bigs_bin(), vocab, p, dir);
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, "\"train_sequences\":1"), "%s", log);  // one word > 100 chars: [UNK]
    unlink(p);
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s --output %s/o7", test_bigs_bin(), vocab, dir);
    CHECK(test_run(cmd, log, sizeof log) == 2 && strstr(log, "Usage:"));
}
