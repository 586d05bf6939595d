// main.c: the `bigs` executable dispatches to one subcommand per file in cmd/.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/base/common.h"
#include "core/base/dist.h"
#include "core/engine/gemm.h"

const Command g_commands[] = {
    {"prepare", cmd_prepare, "tokenize text files into compressed training shards"},
    {"tokenize", cmd_tokenize, "print WordPiece token ids of stdin lines"},
    {"vocab", cmd_vocab, "train a WordPiece vocabulary on a corpus (as Hugging Face's trainer)"},
    {"pretrain", cmd_pretrain, "masked-LM pretraining"},
    {"finetune", cmd_finetune, "finetune on a GLUE or SCROLLS task"},
    {"eval", cmd_eval, "evaluate a model on a task's dev or test split"},
    {"predict", cmd_predict, "fill masks or classify texts with a model"},
    {"convert", cmd_convert, "convert checkpoints (official Flax/PyTorch, HF BERT) to and from model directories"},
    {"info", cmd_info, "describe a model directory, config, checkpoint or shard directory"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f) {
    fprintf(f,
            "bigs %s: pretraining and finetuning of attention-free language encoders (BiGS)\n\n"
            "Usage: bigs <command> [options]   (bigs <command> --help for its options)\n\nCommands:\n",
            BIGS_VERSION);
    for (const Command *c = g_commands; c->name; c++)
        fprintf(f, "  %-9s %s%s\n", c->name, c->summary, c->run ? "" : " (not built yet)");
    fprintf(f, "\nCommon options: --threads N (default: all cores), --seed N, --quiet\n"
               "Example: bigs info configs/bigs-tiny.json\n");
}

static int run(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "--version")) {  // the build's MPI, the GEMM engine this CPU gets (BIGS_GEMM), the bf16 kernel
        printf("bigs %s (%s; GEMM: %s; bf16: %s)\n", BIGS_VERSION, dist_build(), gemm_engine(), gemm_bf16_engine());
        return 0;
    }
    for (const Command *c = g_commands; c->name; c++) {
        if (strcmp(c->name, argv[1]) != 0) continue;
        if (!c->run) {
            fprintf(stderr, "bigs: '%s' is not built yet in this version\n", c->name);
            return 2;
        }
        return c->run(argc - 2, argv + 2);
    }
    fprintf(stderr, "bigs: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

// OpenMP's wait policy is set before libgomp starts (core/base/common.h, omp_wait_policy_default).
__attribute__((section(".preinit_array"), used)) static void (*const wait_policy_at_load)(int, char **, char **) =
    omp_wait_policy_default;

int main(int argc, char **argv) {
    // Past a file-size limit (ulimit -f) the kernel sends SIGXFSZ, whose default action kills the
    // process mid-write. Ignored, the write fails with EFBIG instead, so the error path runs: the file
    // is named, temporary files are removed and the exit status is 1, as on a full disk.
    signal(SIGXFSZ, SIG_IGN);
    dist_init(&argc, &argv);  // joins the job when started by mpirun
    int rc = run(argc, argv);
    dist_finalize();
    return rc;
}
