// torchzip.c: pytorch_model.bin reading (zip + pickle virtual machine) and writing (see torchzip.h).
#include "core/formats/torchzip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/base/common.h"

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

// ----------------------------------------------------------------------------
// zip

typedef struct { char *name; uint64_t offset, csize, usize; int method; } ZipEntry;
typedef struct { const uint8_t *map; size_t size; ZipEntry *e; int n; } Zip;

static int zip_open(Zip *z, const uint8_t *map, size_t size, char *err, size_t n) {
    memset(z, 0, sizeof *z);
    z->map = map;
    z->size = size;
    if (size < 22) return errf(err, n, "too short for a zip archive");
    // the end of central directory record: within the last 64 KiB + 22 bytes
    long eocd = -1;
    for (long p = (long)size - 22; p >= 0 && p >= (long)size - 65557; p--)
        if (le32(map + p) == 0x06054b50) { eocd = p; break; }
    if (eocd < 0) return errf(err, n, "not a zip archive (no end of central directory; truncated?)");
    uint64_t count = le16(map + eocd + 10), cd = le32(map + eocd + 16);
    if (cd == 0xffffffffu || count == 0xffff) {  // ZIP64: the locator just before the record
        if (eocd < 20 || le32(map + eocd - 20) != 0x07064b50) return errf(err, n, "ZIP64 archive without its locator");
        uint64_t z64 = le64(map + eocd - 12);
        if (z64 > size || size - z64 < 56 || le32(map + z64) != 0x06064b50) return errf(err, n, "bad ZIP64 end of central directory");
        count = le64(map + z64 + 32);
        cd = le64(map + z64 + 48);
    }
    // every entry takes at least 46 bytes of central directory
    if (count > 1000000 || count > size / 46) return errf(err, n, "implausible zip entry count %llu", (unsigned long long)count);
    z->e = xcalloc((size_t)count + 1, sizeof(ZipEntry));
    uint64_t p = cd;
    for (uint64_t i = 0; i < count; i++) {
        // offsets come from the file (64-bit with ZIP64): compare by subtraction, so no sum wraps around
        if (p > size || size - p < 46 || le32(map + p) != 0x02014b50) return errf(err, n, "corrupt zip central directory");
        ZipEntry *e = &z->e[z->n];
        e->method = (int)le16(map + p + 10);
        e->csize = le32(map + p + 20);
        e->usize = le32(map + p + 24);
        uint32_t nl = le16(map + p + 28), xl = le16(map + p + 30), cl = le16(map + p + 32);
        e->offset = le32(map + p + 42);
        if (size - p - 46 < (uint64_t)nl + xl + cl) return errf(err, n, "corrupt zip central directory");
        e->name = xmalloc(nl + 1);
        memcpy(e->name, map + p + 46, nl);
        e->name[nl] = 0;
        z->n++;
        // ZIP64 extra field: the 64-bit values that were 0xffffffff, in order
        for (uint64_t x = p + 46 + nl; x + 4 <= p + 46 + nl + xl;) {
            uint32_t id = le16(map + x), len = le16(map + x + 2);
            if (x + 4 + len > p + 46 + nl + xl) break;  // a field running past the extra area is ignored
            if (id == 1) {
                uint64_t q = x + 4;
                if (e->usize == 0xffffffffu && q + 8 <= x + 4 + len) { e->usize = le64(map + q); q += 8; }
                if (e->csize == 0xffffffffu && q + 8 <= x + 4 + len) { e->csize = le64(map + q); q += 8; }
                if (e->offset == 0xffffffffu && q + 8 <= x + 4 + len) e->offset = le64(map + q);
            }
            x += 4 + len;
        }
        p += 46 + nl + xl + cl;
    }
    return 0;
}

static void zip_close(Zip *z) {
    for (int i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
}

// The bytes of an entry: a pointer into the map for stored entries, or a malloc'd inflated copy.
static int zip_get(const Zip *z, const ZipEntry *e, const uint8_t **data, uint8_t **owned, char *err, size_t n) {
    *owned = NULL;
    if (e->offset > z->size || z->size - e->offset < 30 || le32(z->map + e->offset) != 0x04034b50)
        return errf(err, n, "%s: bad local zip header", e->name);
    uint64_t start = e->offset + 30 + le16(z->map + e->offset + 26) + le16(z->map + e->offset + 28);
    if (start > z->size || e->csize > z->size - start) return errf(err, n, "%s: runs past the end of the file (truncated?)", e->name);
    if (e->method == 0) {
        if (e->csize != e->usize) return errf(err, n, "%s: stored entry with differing sizes", e->name);
        *data = z->map + start;
        return 0;
    }
    if (e->method != 8) return errf(err, n, "%s: unsupported zip compression method %d", e->name, e->method);
    // deflate expands at most 1032:1, so a larger recorded size is a lie: refuse it before allocating
    if (e->usize > 1032 * e->csize + 64 || e->usize > 0xffffffffu)
        return errf(err, n, "%s: %llu bytes cannot come from %llu deflated bytes (corrupt size)", e->name,
                    (unsigned long long)e->usize, (unsigned long long)e->csize);
    uint8_t *out = xmalloc(e->usize ? e->usize : 1);
    z_stream s;
    memset(&s, 0, sizeof s);
    inflateInit2(&s, -15);
    s.next_in = (Bytef *)(z->map + start);
    s.avail_in = (uInt)e->csize;
    s.next_out = out;
    s.avail_out = (uInt)e->usize;
    int rc = inflate(&s, Z_FINISH);
    inflateEnd(&s);
    if (rc != Z_STREAM_END || s.total_out != e->usize) { free(out); return errf(err, n, "%s: corrupt deflate data", e->name); }
    *data = out;
    *owned = out;
    return 0;
}

static const ZipEntry *zip_find_suffix(const Zip *z, const char *suffix, size_t *prefix_len) {
    size_t sl = strlen(suffix);
    for (int i = 0; i < z->n; i++) {
        size_t l = strlen(z->e[i].name);
        if (l >= sl && !strcmp(z->e[i].name + l - sl, suffix)) {
            if (prefix_len) *prefix_len = l - sl;
            return &z->e[i];
        }
    }
    return NULL;
}

// ----------------------------------------------------------------------------
// the pickle virtual machine

typedef enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR, V_MARK } VType;

typedef struct Val {
    VType t;
    int64_t i;
    double f;
    char *s;              // V_STR, V_GLOBAL ("module.name"), V_STORAGE (its key)
    struct Val **items;   // V_TUPLE (also lists): n items; V_DICT: n/2 (key, value) pairs, flat
    int n, cap;
    Dtype dtype;          // V_STORAGE
    struct Val *storage;  // V_TENSOR
    int64_t offset, ndim, size[8], stride[8];
} Val;

typedef struct {
    Val **all;            // every value made, freed at the end
    int nall, capall;
    Val **stack;
    int sp, capst;
    Val **memo;
    int nmemo;
    char *err;
    size_t errn;
} VM;

static Val *vnew(VM *vm, VType t) {
    Val *v = xcalloc(1, sizeof(Val));
    v->t = t;
    if (vm->nall == vm->capall) { vm->capall = vm->capall ? 2 * vm->capall : 256; vm->all = xrealloc(vm->all, sizeof(Val *) * (size_t)vm->capall); }
    vm->all[vm->nall++] = v;
    return v;
}

static void push(VM *vm, Val *v) {
    if (vm->sp == vm->capst) { vm->capst = vm->capst ? 2 * vm->capst : 256; vm->stack = xrealloc(vm->stack, sizeof(Val *) * (size_t)vm->capst); }
    vm->stack[vm->sp++] = v;
}

static void add_item(Val *c, Val *x) {
    if (c->n == c->cap) { c->cap = c->cap ? 2 * c->cap : 8; c->items = xrealloc(c->items, sizeof(Val *) * (size_t)c->cap); }
    c->items[c->n++] = x;
}

static int last_mark(VM *vm) {
    for (int k = vm->sp - 1; k >= 0; k--)
        if (vm->stack[k]->t == V_MARK) return k;
    return -1;
}

// The element type of a storage class, or -1 for a class a state dict does not use.
static int storage_dtype(const char *global) {
    static const struct { const char *g; Dtype d; } m[] = {
        {"torch.FloatStorage", DT_F32}, {"torch.HalfStorage", DT_F16}, {"torch.BFloat16Storage", DT_BF16},
        {"torch.DoubleStorage", DT_F64}, {"torch.LongStorage", DT_I64}, {"torch.IntStorage", DT_I32}};
    for (size_t k = 0; k < sizeof m / sizeof m[0]; k++)
        if (!strcmp(global, m[k].g)) return (int)m[k].d;
    return -1;
}

static int allowed_global(const char *g) {
    return !strcmp(g, "collections.OrderedDict") || !strcmp(g, "torch._utils._rebuild_tensor_v2") ||
           !strcmp(g, "torch._utils._rebuild_parameter") || storage_dtype(g) >= 0;
}

// Calls an allowed global with an argument tuple.
static Val *call(VM *vm, Val *fn, Val *args) {
    if (!strcmp(fn->s, "collections.OrderedDict")) return vnew(vm, V_DICT);
    if (!strcmp(fn->s, "torch._utils._rebuild_parameter")) {
        if (args->n < 1 || args->items[0]->t != V_TENSOR) return NULL;
        return args->items[0];
    }
    if (!strcmp(fn->s, "torch._utils._rebuild_tensor_v2")) {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (args->n < 4 || args->items[0]->t != V_STORAGE || args->items[1]->t != V_INT || args->items[2]->t != V_TUPLE ||
            args->items[3]->t != V_TUPLE || args->items[2]->n > 8 || args->items[2]->n != args->items[3]->n)
            return NULL;
        Val *t = vnew(vm, V_TENSOR);
        t->storage = args->items[0];
        t->offset = args->items[1]->i;
        t->ndim = args->items[2]->n;
        for (int k = 0; k < t->ndim; k++) {
            if (args->items[2]->items[k]->t != V_INT || args->items[3]->items[k]->t != V_INT) return NULL;
            t->size[k] = args->items[2]->items[k]->i;
            t->stride[k] = args->items[3]->items[k]->i;
            if (t->size[k] < 0 || t->stride[k] < 0) return NULL;
        }
        return t;
    }
    return NULL;
}

#define NEED(k) do { if (pos + (k) > len) { errf(vm->err, vm->errn, "pickle: truncated at byte %zu", pos); return NULL; } } while (0)
#define POP() (vm->sp > 0 ? vm->stack[--vm->sp] : NULL)

static Val *run(VM *vm, const uint8_t *p, size_t len) {
    size_t pos = 0;
    while (pos < len) {
        uint8_t op = p[pos++];
        Val *v, *a, *b;
        int m;
        switch (op) {
        case 0x80: NEED(1); pos++; break;                                        // PROTO
        case 0x95: NEED(8); pos += 8; break;                                     // FRAME
        case '}': push(vm, vnew(vm, V_DICT)); break;                             // EMPTY_DICT
        case ']': case ')': push(vm, vnew(vm, V_TUPLE)); break;                  // EMPTY_LIST, EMPTY_TUPLE
        case '(': push(vm, vnew(vm, V_MARK)); break;                             // MARK
        case 'N': push(vm, vnew(vm, V_NONE)); break;
        case 0x88: case 0x89: v = vnew(vm, V_BOOL); v->i = op == 0x88; push(vm, v); break;
        case 'K': NEED(1); v = vnew(vm, V_INT); v->i = p[pos]; pos += 1; push(vm, v); break;
        case 'M': NEED(2); v = vnew(vm, V_INT); v->i = le16(p + pos); pos += 2; push(vm, v); break;
        case 'J': NEED(4); v = vnew(vm, V_INT); v->i = (int32_t)le32(p + pos); pos += 4; push(vm, v); break;
        case 0x8a: {                                                            // LONG1
            NEED(1);
            int k = p[pos++];
            NEED((size_t)k);
            if (k > 8) { errf(vm->err, vm->errn, "pickle: integer of %d bytes", k); return NULL; }
            uint64_t x = 0;
            for (int q = k - 1; q >= 0; q--) x = (x << 8) | p[pos + (size_t)q];
            if (k && k < 8 && (p[pos + (size_t)k - 1] & 0x80)) x |= ~0ull << (8 * k);  // sign
            v = vnew(vm, V_INT);
            v->i = (int64_t)x;
            pos += (size_t)k;
            push(vm, v);
            break;
        }
        case 'G': {                                                             // BINFLOAT (big-endian)
            NEED(8);
            uint64_t x = 0;
            for (int q = 0; q < 8; q++) x = (x << 8) | p[pos + (size_t)q];
            v = vnew(vm, V_FLOAT);
            memcpy(&v->f, &x, 8);
            pos += 8;
            push(vm, v);
            break;
        }
        case 'X': case 0x8c: case 'U': case 'T': case 0x8d: {                   // strings
            size_t k;
            if (op == 'X' || op == 'T') { NEED(4); k = le32(p + pos); pos += 4; }
            else if (op == 0x8d) { NEED(8); k = (size_t)le64(p + pos); pos += 8; }
            else { NEED(1); k = p[pos++]; }
            NEED(k);
            v = vnew(vm, V_STR);
            v->s = xmalloc(k + 1);
            memcpy(v->s, p + pos, k);
            v->s[k] = 0;
            pos += k;
            push(vm, v);
            break;
        }
        case 'c': {                                                             // GLOBAL "module\nname\n"
            const uint8_t *nl1 = memchr(p + pos, '\n', len - pos);
            const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', len - (size_t)(nl1 + 1 - p)) : NULL;
            if (!nl2) { errf(vm->err, vm->errn, "pickle: truncated GLOBAL"); return NULL; }
            v = vnew(vm, V_GLOBAL);
            size_t l1 = (size_t)(nl1 - (p + pos)), l2 = (size_t)(nl2 - nl1 - 1);
            v->s = xmalloc(l1 + l2 + 2);
            snprintf(v->s, l1 + l2 + 2, "%.*s.%.*s", (int)l1, (const char *)(p + pos), (int)l2, (const char *)(nl1 + 1));
            pos = (size_t)(nl2 + 1 - p);
            if (!allowed_global(v->s)) { errf(vm->err, vm->errn, "pickle: refusing the global %s (a state dict needs none)", v->s); return NULL; }
            push(vm, v);
            break;
        }
        case 0x93: {                                                            // STACK_GLOBAL
            b = POP(); a = POP();
            if (!a || !b || a->t != V_STR || b->t != V_STR) { errf(vm->err, vm->errn, "pickle: bad STACK_GLOBAL"); return NULL; }
            v = vnew(vm, V_GLOBAL);
            size_t l = strlen(a->s) + strlen(b->s) + 2;
            v->s = xmalloc(l);
            snprintf(v->s, l, "%s.%s", a->s, b->s);
            if (!allowed_global(v->s)) { errf(vm->err, vm->errn, "pickle: refusing the global %s (a state dict needs none)", v->s); return NULL; }
            push(vm, v);
            break;
        }
        case 'q': case 'r': case 0x94: {                                        // BINPUT, LONG_BINPUT, MEMOIZE
            size_t idx;
            if (op == 'q') { NEED(1); idx = p[pos++]; }
            else if (op == 'r') { NEED(4); idx = le32(p + pos); pos += 4; }
            else idx = (size_t)vm->nmemo;
            // picklers number memo entries from 0, one per opcode at most: an index past the pickle's
            // length is corrupt (and would make the memo table huge)
            if (!vm->sp || idx > len) { errf(vm->err, vm->errn, "pickle: bad memo put"); return NULL; }
            if ((int)idx >= vm->nmemo) {
                vm->memo = xrealloc(vm->memo, sizeof(Val *) * (idx + 1));
                for (size_t q = (size_t)vm->nmemo; q <= idx; q++) vm->memo[q] = NULL;
                vm->nmemo = (int)idx + 1;
            }
            vm->memo[idx] = vm->stack[vm->sp - 1];
            break;
        }
        case 'h': case 'j': {                                                   // BINGET, LONG_BINGET
            size_t idx;
            if (op == 'h') { NEED(1); idx = p[pos++]; }
            else { NEED(4); idx = le32(p + pos); pos += 4; }
            if (idx >= (size_t)vm->nmemo || !vm->memo[idx]) { errf(vm->err, vm->errn, "pickle: memo %zu is not set", idx); return NULL; }
            push(vm, vm->memo[idx]);
            break;
        }
        case 't': case 'l':                                                     // TUPLE, LIST (from MARK)
            m = last_mark(vm);
            if (m < 0) { errf(vm->err, vm->errn, "pickle: TUPLE without MARK"); return NULL; }
            v = vnew(vm, V_TUPLE);
            for (int k = m + 1; k < vm->sp; k++) add_item(v, vm->stack[k]);
            vm->sp = m;
            push(vm, v);
            break;
        case 0x85: case 0x86: case 0x87: {                                      // TUPLE1..3
            int k = op - 0x84;
            if (vm->sp < k) { errf(vm->err, vm->errn, "pickle: stack underflow"); return NULL; }
            v = vnew(vm, V_TUPLE);
            for (int q = vm->sp - k; q < vm->sp; q++) add_item(v, vm->stack[q]);
            vm->sp -= k;
            push(vm, v);
            break;
        }
        case 'a':                                                               // APPEND
            b = POP();
            if (!b || !vm->sp || vm->stack[vm->sp - 1]->t != V_TUPLE) { errf(vm->err, vm->errn, "pickle: bad APPEND"); return NULL; }
            add_item(vm->stack[vm->sp - 1], b);
            break;
        case 'e': case 'u':                                                     // APPENDS, SETITEMS
            m = last_mark(vm);
            if (m < 1 || vm->stack[m - 1]->t != (op == 'e' ? V_TUPLE : V_DICT) || (op == 'u' && (vm->sp - m - 1) % 2)) {
                errf(vm->err, vm->errn, "pickle: bad %s", op == 'e' ? "APPENDS" : "SETITEMS");
                return NULL;
            }
            for (int k = m + 1; k < vm->sp; k++) add_item(vm->stack[m - 1], vm->stack[k]);
            vm->sp = m;
            break;
        case 's':                                                               // SETITEM
            b = POP(); a = POP();
            if (!a || !b || !vm->sp || vm->stack[vm->sp - 1]->t != V_DICT) { errf(vm->err, vm->errn, "pickle: bad SETITEM"); return NULL; }
            add_item(vm->stack[vm->sp - 1], a);
            add_item(vm->stack[vm->sp - 1], b);
            break;
        case 'Q': {                                                             // BINPERSID: ('storage', type, key, location, numel)
            a = POP();
            if (!a || a->t != V_TUPLE || a->n < 5 || a->items[1]->t != V_GLOBAL || a->items[2]->t != V_STR || storage_dtype(a->items[1]->s) < 0) {
                errf(vm->err, vm->errn, "pickle: unsupported persistent id (not a torch storage)");
                return NULL;
            }
            v = vnew(vm, V_STORAGE);
            v->s = xstrdup(a->items[2]->s);
            v->dtype = (Dtype)storage_dtype(a->items[1]->s);
            v->i = a->items[4]->t == V_INT ? a->items[4]->i : -1;
            push(vm, v);
            break;
        }
        case 'R':                                                               // REDUCE
            b = POP(); a = POP();
            if (!a || !b || a->t != V_GLOBAL || b->t != V_TUPLE || !(v = call(vm, a, b))) {
                errf(vm->err, vm->errn, "pickle: unsupported call%s%s", a && a->t == V_GLOBAL ? " of " : "", a && a->t == V_GLOBAL ? a->s : "");
                return NULL;
            }
            push(vm, v);
            break;
        case 'b':                                                               // BUILD: the state of an OrderedDict or a parameter: ignored
            if (!POP() || !vm->sp) { errf(vm->err, vm->errn, "pickle: bad BUILD"); return NULL; }
            break;
        case '.':                                                               // STOP
            return vm->sp == 1 ? vm->stack[0] : (errf(vm->err, vm->errn, "pickle: %d values left at STOP", vm->sp), (Val *)NULL);
        default:
            errf(vm->err, vm->errn, "pickle: unsupported opcode 0x%02x at byte %zu", op, pos - 1);
            return NULL;
        }
    }
    errf(vm->err, vm->errn, "pickle: no STOP (truncated)");
    return NULL;
}


int torch_read(const char *path, TorchFile *f, char *err, size_t n) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return errf(err, n, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    fstat(fd, &sb);
    size_t size = (size_t)sb.st_size;
    const uint8_t *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (size && map == MAP_FAILED) return errf(err, n, "%s: cannot map: %s", path, strerror(errno));
    int rc = torch_read_mem(map, size, path, f, err, n);
    if (size) munmap((void *)map, size);
    return rc;
}

int torch_read_mem(const void *data, size_t size, const char *path, TorchFile *f, char *err, size_t n) {
    memset(f, 0, sizeof *f);
    const uint8_t *map = data;
    Zip z;
    char msg[512];
    int rc = 0;
    if (zip_open(&z, map, size, msg, sizeof msg)) { rc = errf(err, n, "%s: %s (torch.save's legacy non-zip format is not read)", path, msg); goto out_zip; }
    size_t plen;
    const ZipEntry *pk = zip_find_suffix(&z, "/data.pkl", &plen);
    if (!pk) { rc = errf(err, n, "%s: no data.pkl in the archive (not a PyTorch checkpoint)", path); goto out_zip; }
    const uint8_t *pdata;
    uint8_t *powned;
    if (zip_get(&z, pk, &pdata, &powned, msg, sizeof msg)) { rc = errf(err, n, "%s: %s", path, msg); goto out_zip; }
    VM vm = {0};
    vm.err = msg;
    vm.errn = sizeof msg;
    Val *root = run(&vm, pdata, pk->usize);
    if (!root) rc = errf(err, n, "%s: %s", path, msg);
    else if (root->t != V_DICT) rc = errf(err, n, "%s: the pickle is not a state dict", path);
    // a checkpoint may wrap the state dict: {"state_dict": {...}} or {"model": {...}}
    for (int k = 0; !rc && 2 * k + 1 < root->n; k++)
        if (root->items[2 * k]->t == V_STR && (!strcmp(root->items[2 * k]->s, "state_dict") || !strcmp(root->items[2 * k]->s, "model")) &&
            root->items[2 * k + 1]->t == V_DICT) { root = root->items[2 * k + 1]; break; }
    if (!rc) {
        f->t = xcalloc((size_t)root->n + 1, sizeof(TorchTensor));
        for (int k = 0; 2 * k + 1 < root->n && !rc; k++) {
            Val *key = root->items[2 * k], *t = root->items[2 * k + 1];
            if (key->t != V_STR || t->t != V_TENSOR) continue;  // non-tensor entries (metadata) are skipped
            TorchTensor *o = &f->t[f->n];
            o->name = xstrdup(key->s);
            o->ndim = (int)t->ndim;
            int empty = 0;
            for (int d = 0; d < o->ndim; d++) { o->shape[d] = t->size[d]; empty |= t->size[d] == 0; }
            o->dtype = t->storage->dtype;
            f->n++;
            char ename[4096];
            snprintf(ename, sizeof ename, "%.*sdata/%s", (int)(plen + 1), pk->name, t->storage->s);
            const ZipEntry *se = NULL;
            for (int q = 0; q < z.n && !se; q++) if (!strcmp(z.e[q].name, ename)) se = &z.e[q];
            if (!se) { rc = errf(err, n, "%s: storage %s of %s is missing", path, t->storage->s, o->name); break; }
            const uint8_t *sd;
            uint8_t *sown;
            if (zip_get(&z, se, &sd, &sown, msg, sizeof msg)) { rc = errf(err, n, "%s: %s", path, msg); break; }
            size_t es = dtype_size(o->dtype), selems = se->usize / es;
            // The view must have no more elements than its storage (a checkpoint has no reason to hold a
            // broadcast, and its copy would be unbounded), and the largest element index it reaches must
            // lie inside the storage. Sizes and strides come from the pickle: every step is bounded by
            // selems before it is taken, so no product or sum below can overflow.
            uint64_t numel = 1, last = (uint64_t)t->offset;
            int fits = t->offset >= 0 && (empty || (uint64_t)t->offset < selems);
            for (int d = 0; d < o->ndim && fits && !empty; d++) {
                uint64_t sz = (uint64_t)t->size[d], st = (uint64_t)t->stride[d];
                fits = sz <= selems / numel && (sz == 1 || st <= (selems - 1 - last) / (sz - 1));
                if (fits) { numel *= sz; last += (sz - 1) * st; }
            }
            if (!fits) {
                free(sown);
                rc = errf(err, n, "%s: %s reaches outside its storage or has more elements than it (offset %lld, %zu elements)", path,
                          o->name, (long long)t->offset, selems);
                break;
            }
            o->numel = empty ? 0 : (int64_t)numel;
            if (dtype_is_float(o->dtype)) {
                o->data = xmalloc(sizeof(float) * (size_t)(o->numel ? o->numel : 1));
                int64_t idx[8] = {0};
                for (int64_t e = 0; e < o->numel; e++) {  // strided view -> contiguous
                    int64_t off = t->offset;
                    for (int d = 0; d < o->ndim; d++) off += idx[d] * t->stride[d];
                    dtype_to_f32(o->dtype, sd + (size_t)off * es, 1, &o->data[e]);
                    for (int d = o->ndim - 1; d >= 0; d--) { if (++idx[d] < t->size[d]) break; idx[d] = 0; }
                }
            }
            free(sown);
        }
    }
    for (int k = 0; k < vm.nall; k++) { free(vm.all[k]->s); free(vm.all[k]->items); free(vm.all[k]); }
    free(vm.all);
    free(vm.stack);
    free(vm.memo);
    free(powned);
    if (rc) torch_free(f);
out_zip:
    zip_close(&z);
    return rc;
}

void torch_free(TorchFile *f) {
    for (int i = 0; i < f->n; i++) { free(f->t[i].name); free(f->t[i].data); }
    free(f->t);
    memset(f, 0, sizeof *f);
}

const TorchTensor *torch_find(const TorchFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

// ----------------------------------------------------------------------------
// writer

typedef struct { uint8_t *b; size_t len, cap; } Buf;

static void bput(Buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) { b->cap = (b->len + n) * 2 + 256; b->b = xrealloc(b->b, b->cap); }
    memcpy(b->b + b->len, p, n);
    b->len += n;
}
static void bbyte(Buf *b, uint8_t c) { bput(b, &c, 1); }
static void ble16(Buf *b, uint32_t v) { uint8_t q[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; bput(b, q, 2); }
static void ble32(Buf *b, uint32_t v) { uint8_t q[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)}; bput(b, q, 4); }

static void pk_str(Buf *b, const char *s) {  // BINUNICODE
    bbyte(b, 'X');
    ble32(b, (uint32_t)strlen(s));
    bput(b, s, strlen(s));
}
static void pk_global(Buf *b, const char *mod, const char *name) {
    bbyte(b, 'c');
    bput(b, mod, strlen(mod));
    bbyte(b, '\n');
    bput(b, name, strlen(name));
    bbyte(b, '\n');
}
static void pk_int(Buf *b, int64_t v) {
    if (v >= 0 && v < 256) { bbyte(b, 'K'); bbyte(b, (uint8_t)v); }
    else if (v >= INT32_MIN && v <= INT32_MAX) { bbyte(b, 'J'); ble32(b, (uint32_t)v); }
    else { bbyte(b, 0x8a); bbyte(b, 8); for (int k = 0; k < 8; k++) bbyte(b, (uint8_t)((uint64_t)v >> (8 * k))); }
}

typedef struct { char name[64]; uint32_t crc; uint64_t size, offset; } ZEnt;

// One stored zip entry whose data starts at a multiple of 64 bytes (padding in an extra field, as
// PyTorch's writer does, so storages can be mapped aligned).
static void zip_add(Buf *z, ZEnt *e, const char *name, const void *data, size_t size) {
    snprintf(e->name, sizeof e->name, "%s", name);
    e->crc = (uint32_t)crc32(0L, data, (uInt)size);
    e->size = size;
    e->offset = z->len;
    size_t nl = strlen(name), at = z->len + 30 + nl + 4, pad = (64 - at % 64) % 64;
    ble32(z, 0x04034b50); ble16(z, 20); ble16(z, 0); ble16(z, 0); ble16(z, 0); ble16(z, 0x21);
    ble32(z, e->crc); ble32(z, (uint32_t)size); ble32(z, (uint32_t)size); ble16(z, (uint32_t)nl); ble16(z, (uint32_t)(4 + pad));
    bput(z, name, nl);
    ble16(z, 0x4246); ble16(z, (uint32_t)pad);  // "FB" padding field
    for (size_t k = 0; k < pad; k++) bbyte(z, 'Z');
    bput(z, data, size);
}

int torch_write(const char *path, const TorchWrite *t, int n, char *err, size_t errn) {
    // the pickle: OrderedDict of name -> _rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())
    Buf p = {0};
    bbyte(&p, 0x80); bbyte(&p, 2);
    pk_global(&p, "collections", "OrderedDict"); bbyte(&p, ')'); bbyte(&p, 'R');
    bbyte(&p, '(');
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d];
        char key[32];
        snprintf(key, sizeof key, "%d", i);
        pk_str(&p, t[i].name);
        pk_global(&p, "torch._utils", "_rebuild_tensor_v2");
        bbyte(&p, '(');
        bbyte(&p, '(');
        pk_str(&p, "storage"); pk_global(&p, "torch", "FloatStorage"); pk_str(&p, key); pk_str(&p, "cpu"); pk_int(&p, numel);
        bbyte(&p, 't'); bbyte(&p, 'Q');
        pk_int(&p, 0);
        bbyte(&p, '(');
        for (int d = 0; d < t[i].ndim; d++) pk_int(&p, t[i].shape[d]);
        bbyte(&p, 't');
        bbyte(&p, '(');
        int64_t stride = 1, strides[8];
        for (int d = t[i].ndim - 1; d >= 0; d--) { strides[d] = stride; stride *= t[i].shape[d]; }
        for (int d = 0; d < t[i].ndim; d++) pk_int(&p, strides[d]);
        bbyte(&p, 't');
        bbyte(&p, 0x89);
        pk_global(&p, "collections", "OrderedDict"); bbyte(&p, ')'); bbyte(&p, 'R');
        bbyte(&p, 't');
        bbyte(&p, 'R');
    }
    bbyte(&p, 'u');
    bbyte(&p, '.');
    Buf z = {0};
    ZEnt *ents = xcalloc((size_t)n + 4, sizeof(ZEnt));
    int ne = 0;
    zip_add(&z, &ents[ne++], "archive/data.pkl", p.b, p.len);
    zip_add(&z, &ents[ne++], "archive/byteorder", "little", 6);
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d];
        char name[64];
        snprintf(name, sizeof name, "archive/data/%d", i);
        zip_add(&z, &ents[ne++], name, t[i].data, (size_t)numel * 4);
    }
    zip_add(&z, &ents[ne++], "archive/version", "3\n", 2);
    if (z.len >= 0xffffffffu) {
        free(p.b); free(z.b); free(ents);
        return errf(err, errn, "%s: archives over 4 GiB (ZIP64) are not written yet", path);
    }
    size_t cd = z.len;
    for (int i = 0; i < ne; i++) {
        size_t nl = strlen(ents[i].name);
        ble32(&z, 0x02014b50); ble16(&z, 20); ble16(&z, 20); ble16(&z, 0); ble16(&z, 0); ble16(&z, 0); ble16(&z, 0x21);
        ble32(&z, ents[i].crc); ble32(&z, (uint32_t)ents[i].size); ble32(&z, (uint32_t)ents[i].size);
        ble16(&z, (uint32_t)nl); ble16(&z, 0); ble16(&z, 0); ble16(&z, 0); ble16(&z, 0); ble32(&z, 0); ble32(&z, (uint32_t)ents[i].offset);
        bput(&z, ents[i].name, nl);
    }
    size_t cdlen = z.len - cd;
    ble32(&z, 0x06054b50); ble16(&z, 0); ble16(&z, 0); ble16(&z, (uint32_t)ne); ble16(&z, (uint32_t)ne);
    ble32(&z, (uint32_t)cdlen); ble32(&z, (uint32_t)cd); ble16(&z, 0);
    int rc = file_write_atomic(path, z.b, z.len);
    if (rc) errf(err, errn, "%s: cannot write: %s", path, strerror(errno));
    free(p.b);
    free(z.b);
    free(ents);
    return rc;
}
