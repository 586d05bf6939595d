// prepare.c: reading documents, tokenizing them on all threads, packing their sentences into
// sequences of at most max_len ("[CLS] ... [SEP]", one segment, as the official BiGS data) and writing
// train/validation shards and meta.json. Output is the same whatever the thread count: documents are
// tokenized in parallel in batches but packed and assigned to splits in input order.
#include "data/prepare.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/base/paths.h"
#include "core/base/jsonio.h"
#include "core/base/rng.h"
#include "data/corpus.h"
#include "data/shard.h"
#include "data/tokenizer.h"

// A batch of documents: sentences (text, tokens) with the index of their first sentence per document.
typedef struct {
    char **text;
    size_t *text_len;
    int32_t **ids;
    int *nids;
    long nsent, cap_sent;
    long *doc_start;  // ndoc + 1 entries
    long ndoc, cap_doc;
    size_t bytes;
} DocBatch;

static void batch_add_sentence(DocBatch *b, const char *s, size_t len) {
    if (b->nsent == b->cap_sent) {
        b->cap_sent = b->cap_sent ? 2 * b->cap_sent : 4096;
        b->text = xrealloc(b->text, sizeof(char *) * (size_t)b->cap_sent);
        b->text_len = xrealloc(b->text_len, sizeof(size_t) * (size_t)b->cap_sent);
        b->ids = xrealloc(b->ids, sizeof(int32_t *) * (size_t)b->cap_sent);
        b->nids = xrealloc(b->nids, sizeof(int) * (size_t)b->cap_sent);
    }
    char *copy = xmalloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = 0;
    b->text[b->nsent] = copy;
    b->text_len[b->nsent] = len;
    b->ids[b->nsent] = NULL;
    b->nsent++;
    b->bytes += len;
}

static void batch_end_doc(DocBatch *b) {
    if (b->ndoc + 2 > b->cap_doc) {
        b->cap_doc = b->cap_doc ? 2 * b->cap_doc : 1024;
        b->doc_start = xrealloc(b->doc_start, sizeof(long) * (size_t)b->cap_doc);
    }
    if (b->ndoc == 0) b->doc_start[0] = 0;
    if (b->nsent == b->doc_start[b->ndoc]) return;  // an empty document is no document
    b->doc_start[++b->ndoc] = b->nsent;
}

static void batch_clear(DocBatch *b) {
    for (long i = 0; i < b->nsent; i++) { free(b->text[i]); free(b->ids[i]); }
    b->nsent = b->ndoc = 0;
    b->bytes = 0;
}

static void batch_free(DocBatch *b) {
    batch_clear(b);
    free(b->text); free(b->text_len); free(b->ids); free(b->nids); free(b->doc_start);
}

// ----------------------------------------------------------------------------
// output: one shard writer per split, rolling over to a new file every shard_seqs sequences

typedef struct {
    const char *dir, *split;
    ShardWriter w;
    int open, files;
    long seqs_in_file, seqs, tokens, docs;
    uint32_t vocab_size, max_len;
    uint64_t vocab_hash;
    long shard_seqs;
    int block_seqs;
} SplitOut;

static void split_write(SplitOut *o, const int32_t *ids, int n) {
    char err[1024], path[4096];
    if (!o->open) {
        snprintf(path, sizeof path, "%s/%s-%05d.bin", o->dir, o->split, o->files);
        if (shard_writer_open(&o->w, path, o->vocab_size, o->vocab_hash, o->max_len, (uint32_t)o->block_seqs, err, sizeof err)) fatal("%s", err);
        o->open = 1;
        o->seqs_in_file = 0;
    }
    if (shard_writer_add(&o->w, ids, (uint32_t)n, err, sizeof err)) fatal("%s", err);
    o->seqs++;
    o->tokens += n;
    if (++o->seqs_in_file >= o->shard_seqs) {
        if (shard_writer_close(&o->w, err, sizeof err)) fatal("%s", err);
        o->open = 0;
        o->files++;
    }
}

static void split_close(SplitOut *o) {
    char err[1024];
    if (o->open) {
        if (shard_writer_close(&o->w, err, sizeof err)) fatal("%s", err);
        o->open = 0;
        o->files++;
    }
}

// ----------------------------------------------------------------------------
// packing

typedef struct {
    int32_t *cur;     // [CLS] + tokens, room for [SEP]
    int len, target, max_len, cls, sep;
    Rng rng;
    double short_prob;
} Packer;

static void packer_target(Packer *p) {
    p->target = p->max_len - 2;
    // as BERT: now and then a shorter sequence, so the model also sees short inputs
    if (p->short_prob > 0 && rng_uniform(&p->rng) < p->short_prob) p->target = 2 + (int)rng_below(&p->rng, (uint64_t)(p->max_len - 3));
}

static void packer_emit(Packer *p, SplitOut *o) {
    if (p->len == 0) return;
    p->cur[0] = p->cls;
    p->cur[p->len + 1] = p->sep;
    split_write(o, p->cur, p->len + 2);
    p->len = 0;
    packer_target(p);
}

// Adds one sentence's tokens; a sentence is split only when it alone exceeds the target length.
static void packer_add(Packer *p, const int32_t *ids, int n, SplitOut *o) {
    int off = 0;
    while (off < n) {
        int room = p->target - p->len;
        if (room <= 0 || (p->len > 0 && n - off > room)) { packer_emit(p, o); continue; }
        int take = n - off < room ? n - off : room;
        memcpy(p->cur + 1 + p->len, ids + off, sizeof(int32_t) * (size_t)take);
        p->len += take;
        off += take;
        if (p->len == p->target) packer_emit(p, o);
    }
}

// ----------------------------------------------------------------------------
// input

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

// Adds a JSON document's text: each non-blank line is a sentence.
static void add_text_doc(DocBatch *b, const char *text) {
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!corpus_blank(p, len)) batch_add_sentence(b, p, len);
        p += len + (nl ? 1 : 0);
    }
    batch_end_doc(b);
}

typedef struct {
    const Tokenizer *tok;
    SplitOut train, val;
    Packer pk;
    uint64_t val_key;
    double val_fraction;
    long doc_index;
    double t0, last_report;
    unsigned long long bytes_done;
    long total_tokens;
} Run;

static void flush_batch(Run *r, DocBatch *b) {
    if (b->nsent == 0) return;
    // tokenize every sentence of the batch on all threads (the tokenizer is read-only)
#pragma omp parallel
    {
        int cap = 256;
        int32_t *buf = xmalloc(sizeof(int32_t) * (size_t)cap);
#pragma omp for schedule(dynamic, 64)
        for (long i = 0; i < b->nsent; i++) {
            int n = tok_encode(r->tok, b->text[i], b->text_len[i], buf, cap);
            if (n > cap) {
                cap = n;
                buf = xrealloc(buf, sizeof(int32_t) * (size_t)cap);
                n = tok_encode(r->tok, b->text[i], b->text_len[i], buf, cap);
            }
            b->ids[i] = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
            memcpy(b->ids[i], buf, sizeof(int32_t) * (size_t)n);
            b->nids[i] = n;
        }
        free(buf);
    }
    // pack in input order
    for (long d = 0; d < b->ndoc; d++, r->doc_index++) {
        int is_val = rng_uniform_at(r->val_key, (uint64_t)r->doc_index) < r->val_fraction;
        SplitOut *o = is_val ? &r->val : &r->train;
        o->docs++;
        for (long s = b->doc_start[d]; s < b->doc_start[d + 1]; s++) {
            packer_add(&r->pk, b->ids[s], b->nids[s], o);
            r->total_tokens += b->nids[s];
        }
        packer_emit(&r->pk, o);  // sequences never span documents
    }
    batch_clear(b);
}

static void report(Run *r, unsigned long long bytes, int final) {
    double now = now_seconds();
    if (!final && now - r->last_report < 1.0) return;
    r->last_report = now;
    if (g_quiet) return;
    double mb = bytes / 1048576.0;
    fprintf(stderr, "%sprepare: %.1f MB read, %ld documents, %ld tokens, %.1f MB/s%s", isatty(2) ? "\r" : "", mb, r->doc_index,
            r->total_tokens, mb / (now - r->t0 + 1e-9), isatty(2) && !final ? "   " : "\n");
}

static void read_file(Run *r, DocBatch *b, const char *path) {
    CorpusFile cf;
    char err[1024];
    if (corpus_open(&cf, path, err, sizeof err)) fatal("%s", err);
    const char *text;
    size_t len;
    int rc;
    while ((rc = corpus_next(&cf, &text, &len, err, sizeof err)) == 1) {
        if (cf.jsonl) add_text_doc(b, text);
        else if (corpus_blank(text, len)) batch_end_doc(b);  // a blank line ends a document
        else batch_add_sentence(b, text, len);
        if (b->bytes > (16u << 20)) {
            if (!cf.jsonl) batch_end_doc(b);  // a very long document is cut here; its rest starts a new one
            flush_batch(r, b);
        }
        report(r, r->bytes_done + corpus_bytes(&cf), 0);
    }
    if (rc < 0) fatal("%s", err);
    batch_end_doc(b);
    r->bytes_done += corpus_bytes(&cf);
    corpus_close(&cf);
}

// A prepare that fails (a fatal error exits) removes what it wrote: the shards it made and the output
// folder when it created it, so no half-made shard directory is left behind.
static struct {
    char dir[4096];
    int created, done;
} g_cleanup;

static void prepare_cleanup(void) {
    if (!g_cleanup.dir[0] || g_cleanup.done) return;
    DIR *d = opendir(g_cleanup.dir);
    if (d) {
        struct dirent *de;
        char p[8192];
        while ((de = readdir(d)))  // only the files this run writes (the folder held no shards before it)
            if (has_suffix(de->d_name, ".bin") || has_suffix(de->d_name, ".tmp") || (g_cleanup.created && !strcmp(de->d_name, "vocab.txt"))) {
                snprintf(p, sizeof p, "%s/%s", g_cleanup.dir, de->d_name);
                unlink(p);
            }
        closedir(d);
    }
    if (g_cleanup.created) rmdir(g_cleanup.dir);
}

// A shard set's own files: what --force replaces.
static int is_shard_file(const char *name) {
    return !strcmp(name, "meta.json") || !strcmp(name, "vocab.txt") || ((!strncmp(name, "train-", 6) || !strncmp(name, "validation-", 11)) &&
                                                                        (has_suffix(name, ".bin") || has_suffix(name, ".tmp")));
}

// The output folder: new or empty; with --force an earlier shard set, whose files are removed first.
// Anything else (a model's folder, the corpus) is refused: nothing is written over what prepare did not
// write. Returns 1 when the folder was created.
static int prepare_output(const PrepareArgs *a) {
    char err[4600], first[256] = "";
    if (path_exists(a->output) && !path_is_dir(a->output)) fatal("--output %s: exists and is not a folder", a->output);
    for (int i = 0; i < a->ninputs; i++)
        if (path_same(a->inputs[i], a->output)) fatal("--output %s is an --input: choose a new folder for the shards", a->output);
    int created = !path_exists(a->output);
    if (path_mkdirs(a->output, err, sizeof err)) fatal("%s", err);
    DIR *d = opendir(a->output);
    if (!d) fatal("%s: cannot open: %s", a->output, strerror(errno));
    struct dirent *de;
    int shards = 0, other = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (is_shard_file(de->d_name)) shards++;
        else if (other++ == 0) snprintf(first, sizeof first, "%s", de->d_name);
    }
    closedir(d);
    if (other) fatal("--output %s holds %s (and %d entries in all) that bigs prepare did not write: choose a new or empty folder",
                           a->output, first, shards + other);
    if (shards && !a->force)
        fatal("--output %s already holds a shard set (meta.json, train-*.bin, ...): add --force to replace it, or choose another "
                    "--output", a->output);
    if (shards) {  // --force: the earlier set goes, so no stale shard of it is read with the new ones
        d = opendir(a->output);
        char p[8192];
        while (d && (de = readdir(d)))
            if (is_shard_file(de->d_name)) {
                snprintf(p, sizeof p, "%s/%s", a->output, de->d_name);
                if (unlink(p) != 0) fatal("%s: cannot remove it (--force): %s", p, strerror(errno));
            }
        if (d) closedir(d);
        log_info("note: --force: replaced the shard set in %s", a->output);
    }
    return created;
}

int prepare_run(const PrepareArgs *a) {
    Tokenizer *tok = tok_load(a->vocab, !a->cased);
    tok_resolve_casing(tok, -1, a->cased, a->vocab);
    const char *need[4] = {"[PAD]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 4; i++)
        if (tok_id(tok, need[i]) < 0) fatal("%s: the vocabulary has no %s token (a BERT vocab.txt is needed)", a->vocab, need[i]);
    size_t vlen;
    const char *e;
    char *vtext = file_read_all(a->vocab, &vlen, &e);
    if (!vtext) fatal("%s: cannot read: %s", a->vocab, e);
    uint64_t vhash = vocab_hash_bytes(vtext, vlen);
    char **files;
    int nfiles = corpus_list(a->inputs, a->ninputs, &files);
    if (nfiles == 0) fatal("no input files (the --input directories are empty)");
    int created = prepare_output(a);
    snprintf(g_cleanup.dir, sizeof g_cleanup.dir, "%s", a->output);
    g_cleanup.created = created;
    atexit(prepare_cleanup);
    Run r;
    memset(&r, 0, sizeof r);
    r.tok = tok;
    SplitOut base = {a->output, "train", {0}, 0, 0, 0, 0, 0, 0, (uint32_t)tok_vocab_size(tok), (uint32_t)a->max_len, vhash, a->shard_seqs, a->block_seqs};
    r.train = base;
    r.val = base;
    r.val.split = "validation";
    r.pk.max_len = a->max_len;
    r.pk.cls = tok_id(tok, "[CLS]");
    r.pk.sep = tok_id(tok, "[SEP]");
    r.pk.cur = xmalloc(sizeof(int32_t) * (size_t)(a->max_len + 2));
    r.pk.short_prob = a->short_seq_prob;
    rng_init(&r.pk.rng, a->seed, 0x5e9);
    packer_target(&r.pk);
    r.val_key = rng_key(a->seed, 0xda1);
    r.val_fraction = a->val_fraction;
    r.t0 = r.last_report = now_seconds();
    DocBatch b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < nfiles; i++) read_file(&r, &b, files[i]);
    flush_batch(&r, &b);
    batch_free(&b);
    split_close(&r.train);
    split_close(&r.val);
    report(&r, r.bytes_done, 1);
    if (r.train.seqs == 0) fatal("no text found in %s%s (every file was empty or blank)", files[0], nfiles > 1 ? " and the other inputs" : "");
    if (r.val.seqs == 0 && a->val_fraction > 0)
        log_warn("no document went to the validation split (%ld documents, --val-fraction %g): evaluation will be skipped",
                 r.doc_index, a->val_fraction);
    // vocab.txt, then meta.json last: a directory with meta.json is complete
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", a->output);
    if (file_write_atomic(path, vtext, vlen)) fatal("%s: cannot write: %s", path, strerror(errno));
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "format", "bigs-shards");
    cJSON_AddNumberToObject(m, "version", SHARD_VERSION);
    cJSON_AddNumberToObject(m, "vocab_size", tok_vocab_size(tok));
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)vhash);
    cJSON_AddStringToObject(m, "vocab_hash", hex);
    cJSON_AddBoolToObject(m, "do_lower_case", !a->cased);
    cJSON_AddNumberToObject(m, "max_len", a->max_len);
    cJSON *sp = cJSON_AddObjectToObject(m, "special_ids");
    const char *sn[5] = {"pad", "unk", "cls", "sep", "mask"}, *st[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++) cJSON_AddNumberToObject(sp, sn[i], tok_id(tok, st[i]));
    SplitOut *outs[2] = {&r.train, &r.val};
    for (int i = 0; i < 2; i++) {
        cJSON *o = cJSON_AddObjectToObject(m, outs[i]->split);
        cJSON_AddNumberToObject(o, "files", outs[i]->files);
        cJSON_AddNumberToObject(o, "documents", (double)outs[i]->docs);
        cJSON_AddNumberToObject(o, "sequences", (double)outs[i]->seqs);
        cJSON_AddNumberToObject(o, "tokens", (double)outs[i]->tokens);
    }
    cJSON *src = cJSON_AddArrayToObject(m, "sources");
    for (int i = 0; i < nfiles; i++) cJSON_AddItemToArray(src, cJSON_CreateString(files[i]));
    cJSON_AddNumberToObject(m, "seed", (double)a->seed);
    cJSON_AddNumberToObject(m, "val_fraction", a->val_fraction);
    cJSON_AddNumberToObject(m, "short_seq_prob", a->short_seq_prob);
    char *text = cJSON_Print(m);
    snprintf(path, sizeof path, "%s/meta.json", a->output);
    if (file_write_atomic(path, text, strlen(text))) fatal("%s: cannot write: %s", path, strerror(errno));
    g_cleanup.done = 1;
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "output", a->output);
    cJSON_AddNumberToObject(res, "documents", (double)r.doc_index);
    cJSON_AddNumberToObject(res, "train_sequences", (double)r.train.seqs);
    cJSON_AddNumberToObject(res, "validation_sequences", (double)r.val.seqs);
    cJSON_AddNumberToObject(res, "tokens", (double)(r.train.tokens + r.val.tokens));
    json_print_line(res);
    cJSON_Delete(res);
    free(text);
    cJSON_Delete(m);
    corpus_list_free(files, nfiles);
    free(vtext);
    free(r.pk.cur);
    tok_free(tok);
    return 0;
}
