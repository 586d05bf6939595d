// test_fuzz_regress.c: the inputs saved from fuzzing (tests/fuzz/corpus/NAME/regress-*: crashes, leaks and
// allocation bombs found by the harnesses or while writing them) must each be rejected with an error
// message, without exiting or allocating for sizes the data cannot have. Under `make test-debug` the
// sanitizers also check that the rejection touches only valid memory.
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/base/common.h"
#include "core/model/config.h"
#include "core/formats/flax.h"
#include "core/formats/safetensors.h"
#include "core/formats/torchzip.h"
#include "data/glue.h"
#include "data/shard.h"
#include "tests/test.h"

// Runs one regression input through its parser; returns 0 when accepted, -1 with err when rejected.
static int parse_one(const char *kind, const char *path, const char *data, size_t len, char *err, size_t n) {
    if (!strcmp(kind, "safetensors")) {
        StFile f;
        if (st_open_mem(&f, data, len, path, err, n)) return -1;
        st_close(&f);
        return 0;
    }
    if (!strcmp(kind, "flax")) {
        FlaxFile f;
        if (flax_open_mem(&f, data, len, path, err, n)) return -1;
        flax_close(&f);
        return 0;
    }
    if (!strcmp(kind, "torchzip")) {
        TorchFile f;
        if (torch_read_mem(data, len, path, &f, err, n)) return -1;
        torch_free(&f);
        return 0;
    }
    if (!strcmp(kind, "shard")) {
        Shard s;
        if (shard_open(&s, path, err, n)) return -1;
        int32_t *ids = NULL;
        uint32_t *offs = NULL;
        size_t ic = 0, oc = 0;
        int rc = 0;
        for (uint32_t b = 0; b < s.n_blocks && !rc; b++) rc = shard_read_block(&s, b, &ids, &ic, &offs, &oc, err, n);
        free(ids);
        free(offs);
        shard_close(&s);
        return rc;
    }
    // config: a model config must fail to load or to validate
    cJSON *j = cJSON_ParseWithLength(data, len);
    if (!j) return errf(err, n, "not JSON");
    ModelConfig c;
    config_defaults(&c);
    int rc = config_from_json(&c, j, path, err, n);
    cJSON_Delete(j);
    return rc ? rc : config_validate(&c, err, n);
}

TEST(fuzz_regressions_are_rejected) {
    const char *kinds[] = {"config", "safetensors", "flax", "torchzip", "shard"};
    int total = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", test_data_dir(), kinds[k]);
        DIR *d = opendir(dir);
        CHECKF(d != NULL, "cannot open %s", dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strncmp(e->d_name, "regress-", 8)) continue;
            char path[2048], err[1024] = "";
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            size_t len;
            const char *why;
            char *data = file_read_all(path, &len, &why);
            CHECKF(data != NULL, "%s: %s", path, why);
            if (!data) continue;
            int rc = parse_one(kinds[k], path, data, len, err, sizeof err);
            CHECKF(rc == -1 && err[0], "%s was accepted (it must be rejected)", path);
            free(data);
            total++;
        }
        closedir(d);
    }
    CHECKF(total >= 15, "only %d regression inputs found", total);
}

// STS-B scores go straight into the regression loss: strtof's "nan", "inf" and overflowing numbers must
// be refused like any other non-number.
TEST(fuzz_glue_scores_must_be_finite) {
    const GlueTask *t = glue_task("stsb");
    const char *hdr = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n";
    const char *bad[] = {"nan", "-inf", "1e40", "infinity"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char text[512], err[1024] = "";
        snprintf(text, sizeof text, "%s0\tg\tf\ty\t0\tn\tn\tA man.\tA dog.\t%s\n", hdr, bad[k]);
        GlueSet s;
        int rc = glue_read_mem(t, text, strlen(text), "dev.tsv", 0, &s, err, sizeof err);
        CHECKF(rc == -1 && strstr(err, "dev.tsv:2:") && strstr(err, "finite"), "score %s: rc %d, %s", bad[k], rc, err);
    }
    char ok[512], err[1024];
    snprintf(ok, sizeof ok, "%s0\tg\tf\ty\t0\tn\tn\tA man.\tA dog.\t4.25\n", hdr);
    GlueSet s;
    CHECKF(glue_read_mem(t, ok, strlen(ok), "dev.tsv", 0, &s, err, sizeof err) == 0 && s.n == 1 && s.ex[0].score == 4.25f, "%s", err);
    glue_free(&s);
}
