// cmd_convert.c: `bigs convert` between model directories and the official BiGS Flax checkpoints
// (flax_model.msgpack: the tree under s4_bert/, cls/, classifier/, Dense kernels stored (in,out)).
#include <libgen.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "cmd/args.h"
#include "core/base/common.h"
#include "core/formats/flax.h"
#include "core/model/model.h"
#include "core/formats/safetensors.h"
#include "core/formats/torchzip.h"

static const char *k_usage =
    "Usage: bigs convert --input PATH --output PATH [--config FILE] [--vocab FILE] [--to dir|flax]\n"
    "\n"
    "  --input PATH    an official BiGS flax_model.msgpack, a pytorch_model.bin or a Hugging Face\n"
    "                  model.safetensors (BiGS with the PyTorch port's names, or BERT), its config.json and\n"
    "                  vocab.txt beside it or given; or a model directory (with --to flax|torch)\n"
    "  --output PATH   the model directory to write (--to dir, the default); for --to flax a file ending\n"
    "                  in .msgpack, or a directory that gets flax_model.msgpack, config.json and vocab.txt;\n"
    "                  for --to torch a file ending in .bin, or a directory with pytorch_model.bin\n"
    "  --config FILE   the checkpoint's config.json (BiGSConfig keys) when it is not beside --input\n"
    "  --vocab FILE    the vocab.txt to copy into the model directory\n"
    "  --to FORMAT     dir (default), flax or torch (a pytorch_model.bin that torch.load reads)\n"
    "\n"
    "Example: bigs convert --input BiGS_128/flax_model.msgpack --output models/bigs-128\n";

// Our parameter name -> the official Flax path; *transpose set for Dense kernels (Flax stores (in,out)).
// Returns 0, or -1 for a name outside the official BiGS layout.
static int flax_path(const char *name, char *out, size_t n, int *transpose) {
    char buf[256];
    *transpose = 0;
    if (!strncmp(name, "bigs.", 5)) snprintf(buf, sizeof buf, "s4_bert.%s", name + 5);
    else if (!strncmp(name, "cls.", 4) || !strncmp(name, "classifier.", 11)) snprintf(buf, sizeof buf, "%s", name);
    else return -1;
    // the SSM leaves sit directly under fs4/bs4 in the Flax tree (the PyTorch port adds ".kernel")
    char *k = strstr(buf, "4.kernel.");
    if (k) memmove(k + 2, k + 9, strlen(k + 9) + 1);
    const char *last = strrchr(buf, '.') + 1;
    char leaf[32];
    snprintf(leaf, sizeof leaf, "%s", last);
    buf[last - buf - 1] = 0;
    if (!strcmp(leaf, "weight")) {
        if (strstr(buf, "LayerNorm")) snprintf(leaf, sizeof leaf, "scale");
        else if (strstr(buf, "_embeddings")) snprintf(leaf, sizeof leaf, "embedding");
        else { snprintf(leaf, sizeof leaf, "kernel"); *transpose = 1; }
    }
    for (char *p = buf; *p; p++)
        if (*p == '.') *p = '/';
    snprintf(out, n, "%s/%s", buf, leaf);
    return 0;
}

static void dir_of(const char *path, char *out, size_t n) {
    char *tmp = xstrdup(path);
    snprintf(out, n, "%s", dirname(tmp));
    free(tmp);
}

static int exists(const char *p) { struct stat sb; return stat(p, &sb) == 0; }

// The config (required) and vocabulary (optional) of a checkpoint: as given, or beside it.
static void beside(const char *input, const char **config, const char **vocab, char *cfgbuf, char *vocbuf, size_t n) {
    char dir[4096];
    dir_of(input, dir, sizeof dir);
    snprintf(cfgbuf, n, "%s/config.json", dir);
    snprintf(vocbuf, n, "%s/vocab.txt", dir);
    if (!*config) {
        if (!exists(cfgbuf)) fatal("%s: no config.json beside the checkpoint; give it with --config", input);
        *config = cfgbuf;
    }
    if (!*vocab && exists(vocbuf)) *vocab = vocbuf;
    if (!*vocab) log_warn("no vocab.txt beside %s and no --vocab: the model directory will lack it (predict needs it)", input);
}

// official Flax checkpoint -> model directory
static int from_flax(const char *input, const char *output, const char *config, const char *vocab) {
    char cfgp[4200], vocp[4200], err[1024];
    beside(input, &config, &vocab, cfgp, vocp, sizeof cfgp);
    ModelConfig c;
    config_load_path(&c, config);
    if (strcmp(config_variant_name(&c), "gated+ssm (BiGS)")) fatal("%s: the Flax layout is the official BiGS one (gated + ssm)", config);
    FlaxFile f;
    if (flax_open(&f, input, err, sizeof err)) fatal("%s", err);
    // paths may sit under a top-level "params"
    int strip = f.n && !strncmp(f.leaves[0].path, "params/", 7);
    for (int i = 0; i < f.n; i++)
        if (strip && !strncmp(f.leaves[i].path, "params/", 7)) memmove(f.leaves[i].path, f.leaves[i].path + 7, strlen(f.leaves[i].path + 7) + 1);
    HeadType head = flax_find(&f, "classifier/kernel") ? HEAD_SEQCLS : HEAD_MLM;
    if (head == HEAD_SEQCLS) c.num_labels = (int)flax_find(&f, "classifier/kernel")->shape[1];
    if (head == HEAD_SEQCLS && c.num_labels == 3 && !c.id2label[0][0]) {
        // the official GLUE script takes MNLI's labels in Hugging Face datasets' order
        strcpy(c.id2label[0], "entailment");
        strcpy(c.id2label[1], "neutral");
        strcpy(c.id2label[2], "contradiction");
        log_info("note: a 3-way classifier without label names: taken as MNLI in the official script's order (entailment, neutral, contradiction)");
    }
    Model m;
    model_build(&m, &c, head);
    char *problems = xcalloc(1, 1);
    size_t plen = 0;
    int nbad = 0;
    char *used = xcalloc((size_t)f.n + 1, 1);
    for (int i = 0; i < m.pt.n; i++) {
        ParamInfo *p = &m.pt.info[i];
        char fp[512], line[700];
        int tr;
        line[0] = 0;
        if (flax_path(p->name, fp, sizeof fp, &tr)) snprintf(line, sizeof line, "  %s has no Flax counterpart\n", p->name);
        const FlaxLeaf *l = line[0] ? NULL : flax_find(&f, fp);
        if (!line[0] && !l) snprintf(line, sizeof line, "  missing: %s (for %s)\n", fp, p->name);
        if (l) {
            used[l - f.leaves] = 1;
            int ok = l->numel == p->numel && l->ndim == p->ndim;
            for (int d = 0; ok && d < p->ndim; d++) ok = l->shape[tr ? p->ndim - 1 - d : d] == p->shape[d];
            float *buf = ok ? xmalloc(sizeof(float) * (size_t)l->numel) : NULL;
            if (!ok) snprintf(line, sizeof line, "  mis-shaped: %s does not fit %s\n", fp, p->name);
            else if (flax_leaf_f32(l, buf)) snprintf(line, sizeof line, "  %s: dtype %s is not a float type\n", fp, dtype_numpy(l->dtype));
            else if (tr) {  // (in,out) -> (out,in)
                int rows = p->shape[0], cols = p->shape[1];
                for (int r = 0; r < rows; r++)
                    for (int q = 0; q < cols; q++) m.pt.t[i].data[(long)r * cols + q] = buf[(long)q * rows + r];
            } else memcpy(m.pt.t[i].data, buf, sizeof(float) * (size_t)l->numel);
            free(buf);
        }
        if (line[0]) {
            problems = xrealloc(problems, plen + strlen(line) + 1);
            strcpy(problems + plen, line);
            plen += strlen(line);
            nbad++;
        }
    }
    for (int i = 0; i < f.n; i++) {
        if (used[i]) continue;
        char line[700];
        snprintf(line, sizeof line, "  unexpected: %s\n", f.leaves[i].path);
        problems = xrealloc(problems, plen + strlen(line) + 1);
        strcpy(problems + plen, line);
        plen += strlen(line);
        nbad++;
    }
    if (nbad) { problems[plen - 1] = 0; fatal("%s does not match %s (%d problems):\n%s", input, config, nbad, problems); }
    model_save_dir(&m, output, vocab);
    printf("{\"input\": \"%s\", \"output\": \"%s\", \"architecture\": \"%s\", \"tensors\": %d, \"parameters\": %ld}\n", input, output,
           model_architecture(&m), m.pt.n, m.pt.count);
    free(problems);
    free(used);
    model_free(&m);
    flax_close(&f);
    return 0;
}

// model directory -> official Flax checkpoint
static int to_flax(const char *input, const char *output) {
    Model m;
    model_load_dir(&m, input, HEAD_AUTO, 0, 0);
    if (strcmp(config_variant_name(&m.cfg), "gated+ssm (BiGS)")) fatal("%s: only the official BiGS variant (gated + ssm) has a Flax layout", input);
    FlaxWrite *w = xcalloc((size_t)m.pt.n, sizeof(FlaxWrite));
    char **paths = xcalloc((size_t)m.pt.n, sizeof(char *));
    float **tbuf = xcalloc((size_t)m.pt.n, sizeof(float *));
    for (int i = 0; i < m.pt.n; i++) {
        ParamInfo *p = &m.pt.info[i];
        char fp[512];
        int tr;
        if (flax_path(p->name, fp, sizeof fp, &tr)) fatal("%s has no Flax counterpart", p->name);
        paths[i] = xstrdup(fp);
        w[i].path = paths[i];
        w[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) w[i].shape[d] = p->shape[tr ? p->ndim - 1 - d : d];
        if (tr) {
            int rows = p->shape[0], cols = p->shape[1];
            tbuf[i] = xmalloc(sizeof(float) * (size_t)p->numel);
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < cols; q++) tbuf[i][(long)q * rows + r] = m.pt.t[i].data[(long)r * cols + q];
            w[i].data = tbuf[i];
        } else w[i].data = m.pt.t[i].data;
    }
    char file[4200], err[1024];
    size_t n = strlen(output);
    int is_file = n > 8 && !strcmp(output + n - 8, ".msgpack");
    if (!is_file) {
        if (mkdir(output, 0755) != 0 && !exists(output)) fatal("%s: cannot create", output);
        snprintf(file, sizeof file, "%s/flax_model.msgpack", output);
    } else snprintf(file, sizeof file, "%s", output);
    if (flax_write(file, w, m.pt.n, err, sizeof err)) fatal("%s", err);
    if (!is_file) {  // the config and vocabulary next to it, as the official repositories hold them
        char src[4200], dst[4200];
        snprintf(src, sizeof src, "%s/vocab.txt", input);
        model_save_dir(&m, output, exists(src) ? src : NULL);
        snprintf(dst, sizeof dst, "%s/model.safetensors", output);
        remove(dst);  // the directory holds the Flax checkpoint, not a second copy of the weights
    }
    printf("{\"input\": \"%s\", \"output\": \"%s\", \"tensors\": %d}\n", input, file, m.pt.n);
    for (int i = 0; i < m.pt.n; i++) { free(paths[i]); free(tbuf[i]); }
    free(paths);
    free(tbuf);
    free(w);
    model_free(&m);
    return 0;
}

// A Hugging Face checkpoint in safetensors (BERT: BertForMaskedLM / BertForPreTraining /
// BertForSequenceClassification; or a model directory's own file) -> model directory. Extra heads
// (the pooler of an MLM checkpoint, the next-sentence head) and buffers are dropped with a note.
static int from_safetensors(const char *input, const char *output, const char *config, const char *vocab, const char *shown) {
    char cfgp[4200], vocp[4200], err[1024];
    beside(shown, &config, &vocab, cfgp, vocp, sizeof cfgp);
    ModelConfig c;
    config_load_path(&c, config);
    StFile f;
    if (st_open(&f, input, err, sizeof err)) fatal("%s", err);
    HeadType head = st_find(&f, "cls.predictions.bias") ? HEAD_MLM : HEAD_SEQCLS;
    const StTensor *ck = st_find(&f, "classifier.weight");
    if (head == HEAD_SEQCLS && ck) c.num_labels = (int)ck->shape[0];
    st_close(&f);
    // the loader reads model.safetensors of a directory: point it at a temporary one
    char tmpdir[4200], link[4300], cfgcopy[4300];
    snprintf(tmpdir, sizeof tmpdir, "%s.convert-tmp", output);
    mkdir(tmpdir, 0755);
    snprintf(link, sizeof link, "%s/model.safetensors", tmpdir);
    snprintf(cfgcopy, sizeof cfgcopy, "%s/config.json", tmpdir);
    unlink(link);
    char *abs = realpath(input, NULL);
    if (!abs || symlink(abs, link) != 0) fatal("%s: cannot prepare the conversion in %s", input, tmpdir);
    free(abs);
    cJSON *cj = config_to_json(&c, NULL);
    char *txt = cJSON_Print(cj);
    file_write_atomic(cfgcopy, txt, strlen(txt));
    free(txt);
    cJSON_Delete(cj);
    Model m;
    char *lerr = NULL;
    int rc = model_load_with_config(&m, tmpdir, &c, head, LOAD_NEW_HEAD, 0, &lerr);
    unlink(link);
    unlink(cfgcopy);
    rmdir(tmpdir);
    if (rc) fatal("%s", lerr);
    model_save_dir(&m, output, vocab);
    printf("{\"input\": \"%s\", \"output\": \"%s\", \"architecture\": \"%s\", \"tensors\": %d, \"parameters\": %ld}\n", shown, output,
           model_architecture(&m), m.pt.n, m.pt.count);
    model_free(&m);
    return 0;
}

// pytorch_model.bin -> model directory: the float tensors go through a temporary safetensors file and
// the same loading (and name checks) as model.safetensors; integer buffers (position_ids) are dropped.
static int from_torch(const char *input, const char *output, const char *config, const char *vocab) {
    char err[1024], tmp[4200];
    TorchFile f;
    if (torch_read(input, &f, err, sizeof err)) fatal("%s", err);
    StWrite *w = xcalloc((size_t)f.n + 1, sizeof(StWrite));
    int n = 0;
    for (int i = 0; i < f.n; i++) {
        if (!f.t[i].data) continue;
        w[n].name = f.t[i].name;
        w[n].dtype = DT_F32;
        w[n].ndim = f.t[i].ndim;
        for (int d = 0; d < f.t[i].ndim; d++) w[n].shape[d] = f.t[i].shape[d];
        w[n++].data = f.t[i].data;
    }
    snprintf(tmp, sizeof tmp, "%s.convert-tmp.safetensors", output);
    if (st_write(tmp, w, n, NULL, 0, err, sizeof err)) fatal("%s", err);
    free(w);
    torch_free(&f);
    int rc = from_safetensors(tmp, output, config, vocab, input);
    unlink(tmp);
    return rc;
}

// model directory -> pytorch_model.bin (with the tied decoder, as Hugging Face's state dicts hold it)
static int to_torch(const char *input, const char *output) {
    Model m;
    model_load_dir(&m, input, HEAD_AUTO, 0, 0);
    TorchWrite *w = xcalloc((size_t)m.pt.n + 2, sizeof(TorchWrite));
    int n = 0;
    for (int i = 0; i < m.pt.n; i++) {
        w[n].name = m.pt.info[i].name;
        w[n].ndim = m.pt.info[i].ndim;
        for (int d = 0; d < w[n].ndim; d++) w[n].shape[d] = m.pt.info[i].shape[d];
        w[n++].data = m.pt.t[i].data;
    }
    if (m.head == HEAD_MLM) {
        w[n] = (TorchWrite){"cls.predictions.decoder.weight", 2, {m.word->shape[0], m.word->shape[1]}, m.word->data};
        n++;
        w[n] = (TorchWrite){"cls.predictions.decoder.bias", 1, {m.mlm_bias->shape[0]}, m.mlm_bias->data};
        n++;
    }
    char file[4200], err[1024];
    size_t len = strlen(output);
    int is_file = len > 4 && !strcmp(output + len - 4, ".bin");
    if (!is_file) {
        if (mkdir(output, 0755) != 0 && !exists(output)) fatal("%s: cannot create", output);
        snprintf(file, sizeof file, "%s/pytorch_model.bin", output);
    } else snprintf(file, sizeof file, "%s", output);
    if (torch_write(file, w, n, err, sizeof err)) fatal("%s", err);
    if (!is_file) {
        char src[4200], dst[4200];
        snprintf(src, sizeof src, "%s/vocab.txt", input);
        model_save_dir(&m, output, exists(src) ? src : NULL);
        snprintf(dst, sizeof dst, "%s/model.safetensors", output);
        remove(dst);
    }
    printf("{\"input\": \"%s\", \"output\": \"%s\", \"tensors\": %d}\n", input, file, n);
    free(w);
    model_free(&m);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    const char *in = args_str(&a, "--input", NULL), *out = args_str(&a, "--output", NULL), *cfg = args_str(&a, "--config", NULL);
    const char *vocab = args_str(&a, "--vocab", NULL), *to = args_str(&a, "--to", "dir");
    args_common(&a);
    args_done(&a);
    if (!in || !out) args_usage_error(&a, "--input and --output are required");
    if (strcmp(to, "dir") && strcmp(to, "flax") && strcmp(to, "torch")) args_usage_error(&a, "--to expects dir, flax or torch, got '%s'", to);
    struct stat sb;
    if (stat(in, &sb) != 0) fatal("%s: no such file or directory", in);
    if (strcmp(to, "dir")) {
        if (!S_ISDIR(sb.st_mode)) fatal("%s: --to %s converts a model directory", in, to);
        return !strcmp(to, "flax") ? to_flax(in, out) : to_torch(in, out);
    }
    if (S_ISDIR(sb.st_mode)) fatal("%s: a directory; convert reads a flax_model.msgpack, pytorch_model.bin or model.safetensors file", in);
    size_t n = strlen(in);
    if (n > 12 && !strcmp(in + n - 12, ".safetensors")) return from_safetensors(in, out, cfg, vocab, in);
    if (n > 4 && !strcmp(in + n - 4, ".bin")) return from_torch(in, out, cfg, vocab);
    return from_flax(in, out, cfg, vocab);
}
