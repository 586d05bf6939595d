// test_convert.c: official-layout Flax checkpoints (tests/formats/, scripts/make_convert_fixtures.py)
// convert to model directories that reproduce the PyTorch reference's logits; round trips are bitwise;
// broken files are clear errors.
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/formats/flax.h"
#include "core/formats/msgpack.h"
#include "core/model/model.h"
#include "core/formats/safetensors.h"
#include "core/formats/torchzip.h"
#include "tests/test.h"

static int32_t *ints(const StFile *f, const char *name, long *n) {
    const StTensor *t = st_find(f, name);
    int64_t *tmp = xmalloc(sizeof(int64_t) * (size_t)t->numel);
    st_to_i64(f, t, tmp);
    int32_t *o = xmalloc(sizeof(int32_t) * (size_t)t->numel);
    for (long i = 0; i < t->numel; i++) o[i] = (int32_t)tmp[i];
    free(tmp);
    if (n) *n = t->numel;
    return o;
}

// Runs a converted model on the fixture's inputs (flax_expected.safetensors) and compares its logits with
// tensor `name` of the golden file `golden` (1e-4 relative).
static void check_logits(const char *model_dir, const char *golden, const char *name) {
    char path[700], err[512];
    StFile in, g;
    snprintf(path, sizeof path, "%s/formats/flax_expected.safetensors", test_data_dir());
    if (st_open(&in, path, err, sizeof err)) { CHECKF(0, "%s", err); return; }
    snprintf(path, sizeof path, "%s/formats/%s", test_data_dir(), golden);
    if (st_open(&g, path, err, sizeof err)) { CHECKF(0, "%s", err); st_close(&in); return; }
    int32_t *ids = ints(&in, "input.input_ids", NULL), *mask = ints(&in, "input.attention_mask", NULL), *labels = ints(&in, "input.labels", NULL);
    Model m;
    model_load_dir(&m, model_dir, HEAD_AUTO, 0, 0);
    Tape tp;
    tape_init(&tp, 1 << 20);
    tp.no_grad = 1;
    Batch b = {2, 16, ids, NULL, mask};
    Tensor *logits;
    if (m.head == HEAD_MLM) model_mlm(&m, &tp, &b, labels, &logits, NULL);
    else model_classify(&m, &tp, &b, NULL, NULL, &logits);
    const StTensor *tl = st_find(&g, name);
    CHECKF(tl && logits->numel == tl->numel, "%s: no %s, or %ld logits", model_dir, name, logits->numel);
    if (tl && logits->numel == tl->numel) {
        float *want = xmalloc(sizeof(float) * (size_t)tl->numel);
        st_to_f32(&g, tl, want);
        char what[800];
        snprintf(what, sizeof what, "%s against %s", model_dir, name);
        CHECK_CLOSE(what, logits->data, want, tl->numel, 1e-5, 1e-4);
        free(want);
    }
    free(ids); free(mask); free(labels);
    tape_free(&tp);
    model_free(&m);
    st_close(&in);
    st_close(&g);
}

TEST(convert_official_flax_reproduces_the_reference) {
    char cmd[4096], out[8192], dir[600], dir2[600];
    // masked LM, HF layout (top-level s4_bert and cls), config.json and vocab.txt beside it
    snprintf(dir, sizeof dir, "%s/conv_mlm", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s convert --input %s/formats/flax_mlm/flax_model.msgpack --output %s", test_bigs_bin(), test_data_dir(), dir);
    CHECKF(test_run(cmd, out, sizeof out) == 0 && strstr(out, "BiGSForMaskedLM"), "%s", out);
    check_logits(dir, "flax_expected.safetensors", "output.logits");
    // classification head, tree under "params", one leaf stored as a chunked array, config given
    snprintf(dir2, sizeof dir2, "%s/conv_cls", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s convert --input %s/formats/flax_cls/flax_model.msgpack --config %s/formats/flax_mlm/config.json --output %s 2>&1",
             test_bigs_bin(), test_data_dir(), test_data_dir(), dir2);
    CHECKF(test_run(cmd, out, sizeof out) == 0 && strstr(out, "BiGSForSequenceClassification"), "%s", out);
    check_logits(dir2, "flax_expected.safetensors", "output.cls_logits");
    // model directory -> Flax -> model directory: bitwise; and the directory form of --to flax
    char fx[700], back[700], a[800], c[800];
    snprintf(fx, sizeof fx, "%s/rt.msgpack", test_tmpdir());
    snprintf(back, sizeof back, "%s/conv_back", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s convert --to flax --input %s --output %s && %s convert --input %s --config %s/config.json --output %s",
             test_bigs_bin(), dir, fx, test_bigs_bin(), fx, dir, back);
    CHECKF(test_run(cmd, out, sizeof out) == 0, "%s", out);
    snprintf(a, sizeof a, "%s/model.safetensors", dir);
    snprintf(c, sizeof c, "%s/model.safetensors", back);
    CHECKF(test_files_equal(a, c), "safetensors -> flax -> safetensors is not bitwise");
    snprintf(fx, sizeof fx, "%s/flax_dir", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s convert --to flax --input %s --output %s && %s convert --input %s/flax_model.msgpack --output %s/conv_back2",
             test_bigs_bin(), dir2, fx, test_bigs_bin(), fx, test_tmpdir());
    CHECKF(test_run(cmd, out, sizeof out) == 0, "%s", out);
    snprintf(a, sizeof a, "%s/model.safetensors", dir2);
    snprintf(c, sizeof c, "%s/conv_back2/model.safetensors", test_tmpdir());
    CHECK(test_files_equal(a, c));
}

TEST(convert_errors) {
    char cmd[4096], out[8192], path[700], cfg[700];
    snprintf(cfg, sizeof cfg, "%s/formats/flax_mlm/config.json", test_data_dir());
    // a truncated checkpoint
    snprintf(path, sizeof path, "%s/formats/flax_mlm/flax_model.msgpack", test_data_dir());
    size_t len;
    const char *e;
    char *bytes = file_read_all(path, &len, &e);
    char trunc[700];
    snprintf(trunc, sizeof trunc, "%s/trunc.msgpack", test_tmpdir());
    file_write_atomic(trunc, bytes, len / 2);
    snprintf(cmd, sizeof cmd, "%s convert --input %s --config %s --output %s/x", test_bigs_bin(), trunc, cfg, test_tmpdir());
    CHECKF(test_run(cmd, out, sizeof out) == 1 && strstr(out, "not a Flax msgpack checkpoint") && strstr(out, "truncated"), "%s", out);
    // garbage bytes, deep nesting
    file_write_atomic(trunc, "\xc1\x00\x00", 3);
    CHECK(test_run(cmd, out, sizeof out) == 1 && strstr(out, "unknown type byte"));
    char deep[200];
    memset(deep, 0x81, 140);  // fixmap of one entry, nested 70 deep (keys are empty strings)
    for (int i = 0; i < 70; i++) { deep[2 * i] = (char)0x81; deep[2 * i + 1] = (char)0xa0; }
    deep[140] = (char)0xc0;
    file_write_atomic(trunc, deep, 141);
    CHECK(test_run(cmd, out, sizeof out) == 1 && strstr(out, "deeper than 64"));
    // a config that does not fit the tensors: every problem listed
    char cfg2[700];
    snprintf(cfg2, sizeof cfg2, "%s/cfg_wrong.json", test_tmpdir());
    const char *wrong = "{\"vocab_size\": 50, \"hidden_size\": 16, \"num_hidden_layers\": 3, \"intermediate_size\": 20, \"num_ssm\": 4, \"max_position_embeddings\": 16}";
    file_write_atomic(cfg2, wrong, strlen(wrong));
    snprintf(cmd, sizeof cmd, "%s convert --input %s --config %s --output %s/y", test_bigs_bin(), path, cfg2, test_tmpdir());
    CHECKF(test_run(cmd, out, sizeof out) == 1 && strstr(out, "missing: s4_bert/encoder/layer/2/") && strstr(out, "mis-shaped: s4_bert/encoder/layer/0/dv/kernel"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s convert --to torch --input %s --output %s/z", test_bigs_bin(), path, test_tmpdir());
    CHECK(test_run(cmd, out, sizeof out) == 1 && strstr(out, "--to torch converts a model directory"));
    free(bytes);
}

TEST(convert_hugging_face_bert_safetensors) {
    char cmd[4096], out[8192], dir[600];
    snprintf(dir, sizeof dir, "%s/conv_bert", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s convert --input %s/formats/bert_hf/model.safetensors --vocab %s/formats/flax_mlm/vocab.txt --output %s 2>&1",
             test_bigs_bin(), test_data_dir(), test_data_dir(), dir);
    CHECKF(test_run(cmd, out, sizeof out) == 0 && strstr(out, "BertForMaskedLM") && strstr(out, "ignoring cls.seq_relationship.weight"), "%s", out);
    ModelConfig c;
    config_load_path(&c, dir);
    CHECK(c.block == block_index("stack") && c.routing == mixer_index("attention") && !c.pre_norm && c.pooler_type == POOL_CLS);
    check_logits(dir, "bert_expected.safetensors", "output.logits");
}

TEST(torch_bin_reader_handles_views_dtypes_and_shared_storage) {
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/formats/torch_views.bin", test_data_dir());
    TorchFile f;
    CHECKF(torch_read(path, &f, err, sizeof err) == 0, "%s", err);
    StFile g;
    snprintf(path, sizeof path, "%s/formats/torch_views_expected.safetensors", test_data_dir());
    if (st_open(&g, path, err, sizeof err)) { CHECKF(0, "%s", err); torch_free(&f); return; }
    const char *names[] = {"f32", "f16", "bf16", "transposed", "sliced", "shared"};
    for (int k = 0; k < 6; k++) {
        const TorchTensor *t = torch_find(&f, names[k]);
        const StTensor *e = st_find(&g, names[k]);
        CHECKF(t && e && t->numel == e->numel && t->data, "%s missing or mis-sized", names[k]);
        if (!t || !e || t->numel != e->numel || !t->data) continue;
        float *want = xmalloc(sizeof(float) * (size_t)e->numel);
        st_to_f32(&g, e, want);
        CHECK_CLOSE(names[k], t->data, want, e->numel, 0, 0);  // exact: float16/bfloat16 widen exactly
        for (int d = 0; d < e->ndim; d++) CHECK(t->shape[d] == e->shape[d]);
        free(want);
    }
    const TorchTensor *i64 = torch_find(&f, "i64");
    CHECK(i64 && i64->dtype == DT_I64 && i64->numel == 12 && i64->data == NULL);
    CHECK(torch_find(&f, "f16")->dtype == DT_F16 && torch_find(&f, "bf16")->dtype == DT_BF16);
    st_close(&g);
    torch_free(&f);
}

TEST(convert_pytorch_bin_in_and_out) {
    char cmd[4096], out[8192], a[700], b[700], c[700];
    // the port's pytorch_model.bin converts to the same model as the official Flax checkpoint
    snprintf(cmd, sizeof cmd, "%s convert --input %s/formats/torch_bigs/pytorch_model.bin --vocab %s/formats/flax_mlm/vocab.txt --output %s/from_bin && "
             "%s convert --input %s/formats/flax_mlm/flax_model.msgpack --output %s/from_flax",
             test_bigs_bin(), test_data_dir(), test_data_dir(), test_tmpdir(), test_bigs_bin(), test_data_dir(), test_tmpdir());
    CHECKF(test_run(cmd, out, sizeof out) == 0, "%s", out);
    snprintf(a, sizeof a, "%s/from_bin/model.safetensors", test_tmpdir());
    snprintf(b, sizeof b, "%s/from_flax/model.safetensors", test_tmpdir());
    CHECKF(test_files_equal(a, b), "pytorch_model.bin and flax_model.msgpack of the same weights convert differently");
    // model directory -> pytorch_model.bin -> model directory: bitwise
    snprintf(cmd, sizeof cmd, "%s convert --to torch --input %s/from_flax --output %s/rt.bin && %s convert --input %s/rt.bin --config %s/from_flax/config.json --output %s/from_rt",
             test_bigs_bin(), test_tmpdir(), test_tmpdir(), test_bigs_bin(), test_tmpdir(), test_tmpdir(), test_tmpdir());
    CHECKF(test_run(cmd, out, sizeof out) == 0, "%s", out);
    snprintf(c, sizeof c, "%s/from_rt/model.safetensors", test_tmpdir());
    CHECKF(test_files_equal(b, c), "safetensors -> torch -> safetensors is not bitwise");
    // torch.load reads our file, with the same values (where Debian's python3-torch is installed)
    if (test_run("/usr/bin/python3 -c 'import torch' 2>/dev/null", out, sizeof out) == 0) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import torch; sd = torch.load('%s/rt.bin'); "
                 "w = sd['bigs.embeddings.word_embeddings.weight']; print(len(sd), tuple(w.shape), w.dtype, float(w[3, 5]), "
                 "bool((sd['cls.predictions.decoder.weight'] == w).all()))\"", test_tmpdir());
        int rc = test_run(cmd, out, sizeof out);
        CHECKF(rc == 0 && strstr(out, "64 (50, 16) torch.float32") && strstr(out, "True"), "torch.load: %s", out);
    } else {
        fprintf(stderr, "  (skipped the torch.load check: no python3-torch on this machine)\n");
    }
    // a pickle that names another global is refused, never run; a truncated archive is an error
    char bad[700];
    snprintf(bad, sizeof bad, "%s/evil.bin", test_tmpdir());
    size_t len;
    const char *e;
    snprintf(a, sizeof a, "%s/rt.bin", test_tmpdir());
    char *bytes = file_read_all(a, &len, &e);
    char *hit = bytes ? memmem(bytes, len, "collections\nOrderedDict\n", 24) : NULL;
    CHECK(hit != NULL);
    if (hit) {
        memcpy(hit, "posix      \nsystem     \n", 24);  // same length: the zip stays valid but for its CRC
        file_write_atomic(bad, bytes, len);
        snprintf(cmd, sizeof cmd, "%s convert --input %s --config %s/from_flax/config.json --output %s/evil_out", test_bigs_bin(), bad, test_tmpdir(), test_tmpdir());
        CHECKF(test_run(cmd, out, sizeof out) == 1 && strstr(out, "refusing the global posix      .system"), "%s", out);
    }
    file_write_atomic(bad, bytes, len / 3);
    snprintf(cmd, sizeof cmd, "%s convert --input %s --config %s/from_flax/config.json --output %s/evil_out", test_bigs_bin(), bad, test_tmpdir(), test_tmpdir());
    CHECKF(test_run(cmd, out, sizeof out) == 1 && strstr(out, "not a zip archive"), "%s", out);
    free(bytes);
}

TEST(convert_unsupported_dtypes_and_opcodes) {
    char path[700], cmd[4096], out[8192], cfg[700];
    snprintf(cfg, sizeof cfg, "%s/formats/flax_mlm/config.json", test_data_dir());
    // a Flax leaf of a dtype bigs does not read
    MpWriter w = {0}, pl = {0};
    mp_w_array(&pl, 3);
    mp_w_array(&pl, 1);
    mp_w_int(&pl, 2);
    mp_w_str(&pl, "complex64");
    mp_w_bin(&pl, "0123456789abcdef", 16);
    mp_w_map(&w, 1);
    mp_w_str(&w, "x");
    mp_w_ext(&w, 1, pl.buf, pl.len);
    snprintf(path, sizeof path, "%s/complex.msgpack", test_tmpdir());
    file_write_atomic(path, w.buf, w.len);
    free(w.buf);
    free(pl.buf);
    snprintf(cmd, sizeof cmd, "%s convert --input %s --config %s --output %s/c1", test_bigs_bin(), path, cfg, test_tmpdir());
    CHECKF(test_run(cmd, out, sizeof out) == 1 && strstr(out, "x: unsupported dtype \"complex64\""), "%s", out);
    // a pickle opcode outside the supported set (INST), in an otherwise valid archive
    float v[2] = {1, 2};
    TorchWrite t = {"a", 1, {2}, v};
    char err[512];
    snprintf(path, sizeof path, "%s/inst.bin", test_tmpdir());
    CHECK(torch_write(path, &t, 1, err, sizeof err) == 0);
    size_t len;
    const char *e;
    char *bytes = file_read_all(path, &len, &e);
    char *hit = bytes ? memmem(bytes, len, "\x89" "ccollections", 13) : NULL;  // the hooks' OrderedDict global
    CHECK(hit != NULL);
    if (hit) {
        hit[1] = 'i';  // 'c' GLOBAL -> 'i' INST
        file_write_atomic(path, bytes, len);
        TorchFile f;
        CHECKF(torch_read(path, &f, err, sizeof err) == -1 && strstr(err, "unsupported opcode 0x69"), "%s", err);
    }
    free(bytes);
}

TEST(convert_official_mnli_label_order) {
    // an official 3-way classifier without label names is MNLI in Hugging Face datasets' order; eval and
    // finetune map its classes to the GLUE files' labels by name
    char cmd[4096], out[8192], dir[600], glue[600];
    snprintf(dir, sizeof dir, "%s/conv_mnli", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s convert --input %s/formats/flax_cls/flax_model.msgpack --config %s/formats/flax_mlm/config.json "
             "--vocab %s/formats/flax_mlm/vocab.txt --output %s 2>&1 && cat %s/config.json",
             test_bigs_bin(), test_data_dir(), test_data_dir(), test_data_dir(), dir, dir);
    CHECKF(test_run(cmd, out, sizeof out) == 0 && strstr(out, "\"0\":\t\"entailment\"") && strstr(out, "\"2\":\t\"contradiction\""), "%s", out);
    snprintf(glue, sizeof glue, "%s/mnli_small", test_tmpdir());
    mkdir(glue, 0755);
    char path[700];
    const char *hdr = "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2\tlabel1\tgold_label\n";
    snprintf(path, sizeof path, "%s/dev_matched.tsv", glue);
    FILE *f = fopen(path, "w");
    fputs(hdr, f);
    fputs("0\t1\t1e\tfiction\t-\t-\t-\t-\tw1 w2\tw3\tneutral\tneutral\n1\t2\t2e\tfiction\t-\t-\t-\t-\tw4\tw5 w6\tentailment\tentailment\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/train.tsv", glue);
    f = fopen(path, "w");
    fputs(hdr, f);
    fputs("0\t1\t1e\tfiction\t-\t-\t-\t-\tw1 w2\tw3\tcontradiction\tcontradiction\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s eval --task mnli --data %s --model %s 2>&1", test_bigs_bin(), glue, dir);
    CHECKF(test_run(cmd, out, sizeof out) == 0 && strstr(out, "mapped by label name") && strstr(out, "\"accuracy\""), "%s", out);
    snprintf(cmd, sizeof cmd, "%s finetune --task mnli --data %s --model %s --output %s/ft_mnli_perm --set train.max_steps=1 2>&1", test_bigs_bin(), glue, dir, test_tmpdir());
    CHECKF(test_run(cmd, out, sizeof out) == 0 && strstr(out, "rows are reordered by label name"), "%s", out);
}
