// cmd_convert.c: `bigs convert` between model directories and the other tensor formats: the official
// BiGS Flax checkpoints (flax_model.msgpack), PyTorch state dicts (pytorch_model.bin: the authors' BiGS
// port, Hugging Face BERT) and Hugging Face safetensors files. Reading goes through one tensor source and
// the format's name table (core/model/names.c), writing through the format's writer: no temporary files.
#include <cjson/cJSON.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/args.h"
#include "cmd/cmd.h"
#include "core/base/common.h"
#include "core/base/jsonio.h"
#include "core/base/paths.h"
#include "core/model/model.h"
#include "core/model/names.h"

static const char *k_usage =
    "Usage: bigs convert --input PATH --output PATH [--config FILE] [--vocab FILE] [--to dir|flax|torch|safetensors]\n"
    "                    [--force]\n"
    "\n"
    "  --input PATH    an official BiGS flax_model.msgpack, a pytorch_model.bin (the authors' BiGS port or Hugging\n"
    "                  Face BERT) or a Hugging Face model.safetensors, with its config.json and vocab.txt beside it\n"
    "                  or given; or a model directory (with --to flax|torch|safetensors)\n"
    "  --output PATH   the model directory to write (--to dir, the default); for the other formats a file with the\n"
    "                  format's extension (.msgpack, .bin, .safetensors), or a directory that gets the format's\n"
    "                  file (flax_model.msgpack, pytorch_model.bin, model.safetensors), config.json and vocab.txt\n"
    "  --config FILE   the checkpoint's config.json (BiGSConfig or BertConfig keys) when it is not beside --input\n"
    "  --vocab FILE    the vocab.txt to copy into the model directory\n"
    "  --to FORMAT     dir (default), flax (the official Flax layout: gated+ssm models), torch (a pytorch_model.bin\n"
    "                  that torch.load reads) or safetensors\n"
    "  --force         write over an existing output file, or into a non-empty folder (its files of the same names;\n"
    "                  nothing is removed); without it an existing output is refused\n"
    "\n"
    "Example: bigs convert --input BiGS_128/flax_model.msgpack --output models/bigs-128\n";

static int exists(const char *p) { struct stat sb; return stat(p, &sb) == 0; }

// Where a conversion writes: never its input; an existing file or a non-empty folder only with --force
// (which writes over the files of the same names and removes nothing). Checked before anything is read;
// the folders are made (with their parents) only when the result is written.
static void output_check(const char *in, const char *out, int is_file, int force) {
    char first[256] = "";
    if (path_same(in, out)) fatal("--output %s is the --input: a conversion writes a new file or folder", out);
    if (is_file) {
        if (path_is_dir(out)) fatal("--output %s is a folder; give a file name ending in the format's extension, or a new folder", out);
        if (exists(out) && !force) fatal("--output %s exists: add --force to write over it, or choose another name", out);
        return;
    }
    if (exists(out) && !path_is_dir(out)) fatal("--output %s exists and is not a folder", out);
    int n = exists(out) ? dir_entries(out, first, sizeof first) : 0;
    if (n > 0 && !force)
        fatal("--output %s is not empty (it holds %s%s): a conversion writes a new folder; add --force to write over the files of the "
              "same names there, or choose another --output", out, first, n > 1 ? " and more" : "");
}

static void output_make(const char *out, int is_file) {
    char err[4600], *tmp = xstrdup(out);
    if (path_mkdirs(is_file ? dirname(tmp) : tmp, err, sizeof err)) fatal("--output %s: %s", out, err);
    free(tmp);
}

static void print_result(const char *input, const char *output, const Model *m, int tensors) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "input", input);
    cJSON_AddStringToObject(o, "output", output);
    if (m) {
        cJSON_AddStringToObject(o, "architecture", model_architecture(m));
        cJSON_AddNumberToObject(o, "parameters", (double)m->pt.count);
    }
    cJSON_AddNumberToObject(o, "tensors", tensors);
    json_print_line(o);
    cJSON_Delete(o);
}

// The config (required) and vocabulary (optional) of a checkpoint file: as given, or beside it.
static void beside(const char *input, const char **config, const char **vocab, char *cfgbuf, char *vocbuf, size_t n) {
    char *tmp = xstrdup(input);
    snprintf(cfgbuf, n, "%s/config.json", dirname(tmp));
    free(tmp);
    tmp = xstrdup(input);
    snprintf(vocbuf, n, "%s/vocab.txt", dirname(tmp));
    free(tmp);
    if (!*config) {
        if (!exists(cfgbuf)) fatal("%s: no config.json beside the checkpoint; give it with --config", input);
        *config = cfgbuf;
    }
    if (!*vocab && exists(vocbuf)) *vocab = vocbuf;
    if (!*vocab) log_warn("no vocab.txt beside %s and no --vocab: the model directory will lack it (predict needs it)", input);
}

// A checkpoint file in any format -> model directory.
static int from_file(const char *input, const char *output, const char *config, const char *vocab, int force) {
    char cfgp[4200], vocp[4200], err[1024];
    output_check(input, output, 0, force);
    beside(input, &config, &vocab, cfgp, vocp, sizeof cfgp);
    ModelConfig c;
    config_load_path(&c, config);
    TensorSource src;
    if (ts_open(&src, input, err, sizeof err)) fatal("%s", err);
    HeadType head = model_head_of_source(&src, &c.num_labels);
    if (head == HEAD_SEQCLS && c.num_labels == 3 && !c.id2label[0][0] && !config_is_bert(&c) && src.kind != TS_SAFETENSORS) {
        // the official GLUE script takes MNLI's labels in Hugging Face datasets' order
        strcpy(c.id2label[0], "entailment");
        strcpy(c.id2label[1], "neutral");
        strcpy(c.id2label[2], "contradiction");
        log_info("note: a 3-way classifier without label names: taken as MNLI in the official script's order (entailment, neutral, contradiction)");
    }
    if (config_validate(&c, err, sizeof err)) fatal("%s: %s", config, err);
    Model m;
    model_build(&m, &c, head);
    char against[4300], *lerr = NULL;
    snprintf(against, sizeof against, "%s", config);
    if (model_read_source(&m, &src, against, LOAD_NEW_HEAD, 0, &lerr)) fatal("%s", lerr);
    ts_close(&src);
    output_make(output, 0);
    model_save_dir(&m, output, vocab);
    print_result(input, output, &m, m.pt.n);
    model_free(&m);
    return 0;
}

// Model directory -> a checkpoint file (or a directory holding one) in another format.
static int to_format(const char *input, const char *output, const TensorFormat *fmt, int force) {
    size_t n = strlen(output), e = strlen(fmt->extension);
    int is_file = n > e && !strcmp(output + n - e, fmt->extension);
    output_check(input, output, is_file, force);
    Model m;
    model_load_dir(&m, input, HEAD_AUTO, 0, 0);
    TsKind kind = (TsKind)(fmt - g_tensor_formats);
    char file[4200], err[1024], vocab[4200];
    int tensors;
    if (is_file) {  // a file of its own
        snprintf(file, sizeof file, "%s", output);
        ModelExport x;
        model_export(&m, kind, &x);
        if (x.nmissing)
            fatal("%s: %d tensors have no %s name (%s first); the %s layout holds %s", input, x.nmissing, fmt->name, x.missing, fmt->name,
                  name_map(kind)->layout);
        output_make(file, 1);
        if (fmt->write(file, x.t, x.n, err, sizeof err)) fatal("%s", err);
        tensors = x.n;
        model_export_free(&x);
    } else {  // a directory: the format's file beside config.json and vocab.txt, as the official repositories hold them
        snprintf(vocab, sizeof vocab, "%s/vocab.txt", input);
        output_make(output, 0);
        if (model_save_dir_as(&m, output, exists(vocab) ? vocab : NULL, kind, err, sizeof err)) fatal("%s", err);
        snprintf(file, sizeof file, "%s/%s", output, fmt->file_name);
        ModelExport x;
        model_export(&m, kind, &x);
        tensors = x.n;
        model_export_free(&x);
    }
    print_result(input, file, NULL, tensors);
    model_free(&m);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    const char *in = args_str(&a, "--input", NULL), *out = args_str(&a, "--output", NULL), *cfg = args_str(&a, "--config", NULL);
    const char *vocab = args_str(&a, "--vocab", NULL), *to = args_str(&a, "--to", "dir");
    int force = args_flag(&a, "--force");
    args_common(&a);
    args_done(&a);
    if (!in || !out) args_usage_error(&a, "--input and --output are required");
    const TensorFormat *fmt = strcmp(to, "dir") ? tensor_format(to) : NULL;
    if (strcmp(to, "dir") && !fmt) args_usage_error(&a, "--to expects dir, flax, torch or safetensors, got '%s'", to);
    struct stat sb;
    if (stat(in, &sb) != 0) fatal("%s: no such file or directory", in);
    if (fmt) {
        if (!S_ISDIR(sb.st_mode)) fatal("%s: --to %s converts a model directory", in, to);
        return to_format(in, out, fmt, force);
    }
    if (S_ISDIR(sb.st_mode)) fatal("%s: a directory; convert reads a flax_model.msgpack, pytorch_model.bin or model.safetensors file", in);
    return from_file(in, out, cfg, vocab, force);
}
