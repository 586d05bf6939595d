// cmd_prepare.c: `bigs prepare`, text files to token shards.
#include "cmd/cmd.h"
#include "cmd/args.h"
#include "core/base/common.h"
#include "data/prepare.h"

static const char *k_usage =
    "Usage: bigs prepare --vocab FILE --input PATH... --output DIR [--max-len 128] [--val-fraction 0.01]\n"
    "                    [--cased] [--seed N] [--short-seq-prob 0.1] [--shard-size 100000] [--force] [--threads N]\n"
    "\n"
    "Tokenizes text into compressed training shards for bigs pretrain.\n"
    "\n"
    "  --vocab FILE          vocab.txt (BERT WordPiece)\n"
    "  --input PATH...       files or directories: plain text (documents separated by blank lines, one\n"
    "                        sentence or paragraph per line) or .jsonl with a \"text\" field; .gz works too\n"
    "  --output DIR          a new or empty folder for the shards (train-*.bin, validation-*.bin, meta.json,\n"
    "                        vocab.txt); its parents are created\n"
    "  --force               replace an earlier shard set in --output (anything else there is refused)\n"
    "  --max-len N           sequence length including [CLS] and [SEP] (default 128)\n"
    "  --val-fraction F      fraction of documents held out for validation (default 0.01)\n"
    "  --cased               keep case and accents (default: uncased, as bert-base-uncased)\n"
    "  --seed N              seed of the split and of the short sequences (default 42)\n"
    "  --short-seq-prob P    probability of a shorter target length, as BERT (default 0.1)\n"
    "  --shard-size N        sequences per shard file (default 100000)\n"
    "\n"
    "Example: bigs prepare --vocab vocab.txt --input corpus/ --output shards/ --max-len 128\n";

int cmd_prepare(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    PrepareArgs p = {0};
    p.vocab = args_str(&a, "--vocab", NULL);
    p.output = args_str(&a, "--output", NULL);
    const char *inputs[4096];
    p.ninputs = args_multi(&a, "--input", inputs, 4096);
    p.inputs = inputs;
    p.max_len = (int)args_int(&a, "--max-len", 128);
    p.val_fraction = args_double(&a, "--val-fraction", 0.01);
    p.cased = args_flag(&a, "--cased");
    p.seed = (uint64_t)args_int(&a, "--seed", 42);
    p.short_seq_prob = args_double(&a, "--short-seq-prob", 0.1);
    p.shard_seqs = args_int(&a, "--shard-size", 100000);
    p.block_seqs = 256;
    p.force = args_flag(&a, "--force");
    args_common(&a);
    args_done(&a);
    if (!p.vocab || !p.output || p.ninputs == 0) args_usage_error(&a, "--vocab, --input and --output are required");
    if (p.max_len < 3 || p.max_len > (1 << 20)) args_usage_error(&a, "--max-len must be 3..1048576, got %d", p.max_len);
    if (p.val_fraction < 0 || p.val_fraction >= 1) args_usage_error(&a, "--val-fraction must be in [0,1), got %g", p.val_fraction);
    if (p.short_seq_prob < 0 || p.short_seq_prob > 1) args_usage_error(&a, "--short-seq-prob must be in [0,1], got %g", p.short_seq_prob);
    if (p.shard_seqs < 1) args_usage_error(&a, "--shard-size must be >= 1");
    return prepare_run(&p);
}
