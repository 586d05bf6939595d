// test_layers.c: includes only point down. The layers, bottom up (docs/internals.md):
//   core/base (errors, files, JSON, keys, RNG, MPI) < core/engine (tensors, tape, ops, GEMM)
//   < core/formats (tensor files) < core/model and data (siblings: neither includes the other)
//   < train < cmd
// Every #include "..." of every source file of the product must name a file of its own folder or of a
// lower layer (tests/ and scripts/ may include anything).
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "core/base/common.h"
#include "tests/test.h"

static const struct { const char *dir; int rank; } k_layers[] = {
    {"core/base", 0}, {"core/engine", 1}, {"core/formats", 2}, {"core/model", 3}, {"data", 3}, {"train", 4}, {"cmd", 5},
};
#define NLAYERS ((int)(sizeof k_layers / sizeof k_layers[0]))

static int layer_of(const char *path) {
    for (int i = 0; i < NLAYERS; i++) {
        size_t n = strlen(k_layers[i].dir);
        if (!strncmp(path, k_layers[i].dir, n) && path[n] == '/' && !strchr(path + n + 1, '/')) return i;
    }
    return -1;
}

// May a file of layer `me` include target? Its own folder, or a strictly lower layer (so siblings of one
// rank never include each other).
static int include_allowed(int me, const char *target) {
    int t = layer_of(target);
    return t >= 0 && (t == me || k_layers[t].rank < k_layers[me].rank);
}

TEST(includes_point_down_the_layers) {
    int files = 0, includes = 0;
    char root[1024];
    snprintf(root, sizeof root, "%s/..", test_data_dir());
    for (int i = 0; i < NLAYERS; i++) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/%s", root, k_layers[i].dir);
        DIR *d = opendir(dir);
        CHECKF(d != NULL, "cannot open %s", dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (n < 3 || (strcmp(e->d_name + n - 2, ".c") && strcmp(e->d_name + n - 2, ".h"))) continue;
            char path[1500], rel[600];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            snprintf(rel, sizeof rel, "%s/%s", k_layers[i].dir, e->d_name);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            files++;
            char buf[4096];
            int line = 0;
            while (fgets(buf, sizeof buf, f)) {
                line++;
                char target[512];
                if (sscanf(buf, "#include \"%511[^\"]\"", target) != 1) continue;
                includes++;
                CHECKF(include_allowed(i, target), "%s:%d: includes \"%s\": %s may only include its own folder and the layers below it "
                       "(docs/internals.md)", rel, line, target, k_layers[i].dir);
            }
            fclose(f);
        }
        closedir(d);
    }
    CHECKF(files > 50 && includes > 150, "only %d files and %d includes found under %s", files, includes, root);
    // the rule itself: upward and sideways includes are refused, downward ones accepted
    CHECK(!include_allowed(layer_of("data/glue.c"), "train/metrics.h"));
    CHECK(!include_allowed(layer_of("core/model/model.c"), "data/glue.h") && !include_allowed(layer_of("data/mlm.c"), "core/model/model.h"));
    CHECK(!include_allowed(layer_of("core/base/common.c"), "core/engine/tape.h"));
    CHECK(include_allowed(layer_of("train/loop.c"), "core/engine/tape.h") && include_allowed(layer_of("cmd/cmd_info.c"), "data/meta.h"));
    CHECK(!include_allowed(layer_of("cmd/main.c"), "tests/test.h"));
}
