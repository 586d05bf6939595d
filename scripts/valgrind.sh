#!/usr/bin/env bash
# valgrind.sh: runs bigs under valgrind's memcheck (--leak-check=full) on a short pretrain (a tiny model,
# stopped after a checkpoint and resumed), prepare, predict, eval and conversions in every direction
# (run from the repository root). Each run must end with its usual exit status, no memcheck error and
# no definitely or indirectly lost block; "possibly lost" and "still reachable" (thread pools, a
# fatal() that exits with memory in use) are reported but allowed. One line per run, then
# "N passed, N failed"; the exit status is 1 on any failure.
#
# The binary is build-valgrind/bigs ($BIGS; `make valgrind` builds it): valgrind 3.19 cannot run
# AVX-512 code, which the default -march=native build holds on such a machine, so this one is built
# with -O1 -mavx2 -mfma and without MPI.
set -u -o pipefail
cd "$(dirname "$0")/.."
BIGS=$(realpath "${BIGS:-build-valgrind/bigs}")
SUPP=$(realpath scripts/valgrind.supp)
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
[ -x "$BIGS" ] || { echo "valgrind.sh: $BIGS is missing (make valgrind builds it)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/bigs-valgrind.XXXXXX")
passed=0 failed=0
finish() { if [ "$failed" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$W"; else echo "valgrind.sh: logs kept in $W"; fi; }
trap finish EXIT
echo "valgrind.sh: $(valgrind --version), $BIGS, logs in $W"

# vg NAME STATUS CMD...: runs bigs CMD under memcheck, expecting exit status STATUS. Leaks of the
# definite and indirect kinds count as errors (--errors-for-leak-kinds), so 99 means memcheck found
# something; the summary lines are parsed from the log for the report.
vg() {
    local name=$1 want=$2 log=$W/$1.vg rc t0 t
    shift 2
    t0=$(date +%s)
    valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=99 --track-origins=yes --num-callers=30 --suppressions="$SUPP" --log-file="$log" \
        "$BIGS" "$@" >"$W/$name.out" 2>&1
    rc=$? t=$(( $(date +%s) - t0 ))
    local errs def ind pos reach
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -1)
    def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1)
    ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1)
    pos=$(sed -n 's/.*possibly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1)
    reach=$(sed -n 's/.*still reachable: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1)
    # no LEAK SUMMARY when nothing was in use at exit ("All heap blocks were freed")
    grep -q "All heap blocks were freed" "$log" && def=0 ind=0 pos=0 reach=0
    local line="$name ($t s): ERROR SUMMARY ${errs:-?} errors; definitely lost ${def:-?} B, indirectly ${ind:-?} B, possibly ${pos:-?} B, still reachable ${reach:-?} B"
    if [ "$rc" -eq "$want" ] && [ "${errs:-x}" = 0 ] && [ "${def:-x}" = 0 ] && [ "${ind:-x}" = 0 ]; then
        passed=$((passed + 1)); echo "ok   $line"
    else
        failed=$((failed + 1)); echo "FAIL $line; exit status $rc (expected $want), see $log"
        grep -E "^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|[0-9,]+ bytes in)" "$log" | head -5
    fi
}

# a 36-token vocabulary and a small corpus over it, so that a pretraining step takes seconds under valgrind
words="the cat dog sat on a mat under tree house ran big small red green blue river city day night water king ship sea road book"
{ printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n.\n,\n'; printf '%s\n' $words; printf '##s\n##ed\n##ing\n'; } > "$W/vocab.txt"
awk -v words="$words" 'BEGIN { srand(3); n = split(words, w, " ")
    for (d = 0; d < 60; d++) { for (s = 1 + int(rand() * 4); s > 0; s--) { line = ""
        for (k = 3 + int(rand() * 10); k > 0; k--) line = line w[1 + int(rand() * n)] " "; print line "." } print "" } }' > "$W/corpus.txt"
V=$(wc -l < "$W/vocab.txt")
cat > "$W/config.json" <<EOF
{"model": {"vocab_size": $V, "hidden_size": 16, "num_hidden_layers": 2, "intermediate_size": 32, "num_ssm": 4,
           "max_position_embeddings": 32},
 "train": {"max_steps": 4, "warmup_steps": 1, "per_device_train_batch_size": 4, "per_device_eval_batch_size": 8,
           "max_seq_length": 32, "save_steps": 2, "eval_steps": 2, "eval_batches": 2, "logging_steps": 1}}
EOF

vg prepare 0 prepare --vocab "$W/vocab.txt" --input "$W/corpus.txt" --output "$W/shards" --max-len 32 --val-fraction 0.2 --threads 1
# stopped after step 2 (a checkpoint, as by SIGTERM: exit 143), then resumed to the end: both the
# checkpoint writer and its reader run
BIGS_STOP_AFTER_STEP=2 vg pretrain-stop 143 pretrain --config "$W/config.json" --data "$W/shards" --output "$W/run" --threads 1
vg pretrain-resume 0 pretrain --config "$W/config.json" --data "$W/shards" --output "$W/run" --threads 1 --resume
vg predict 0 predict --model "$W/run" --text "the cat sat on the [MASK]." --threads 1
vg eval-mlm 0 eval --task mlm --data "$W/shards" --model "$W/run" --threads 1
vg info-model 0 info "$W/run/checkpoint-4"
# the conversions of tests/test_convert.c: official Flax, the PyTorch port's .bin, Hugging Face BERT, and back
F=tests/formats
vg convert-flax 0 convert --input $F/flax_mlm/flax_model.msgpack --output "$W/from_flax"
vg convert-torch 0 convert --input $F/torch_bigs/pytorch_model.bin --vocab $F/flax_mlm/vocab.txt --output "$W/from_bin"
vg convert-bert 0 convert --input $F/bert_hf/model.safetensors --vocab $F/flax_mlm/vocab.txt --output "$W/from_bert"
vg convert-to-torch 0 convert --to torch --input "$W/from_flax" --output "$W/rt.bin"
vg convert-to-flax 0 convert --to flax --input "$W/from_flax" --output "$W/rt.msgpack"
# an error path: a checkpoint that cannot be written (file-size limit) must still be clean
# The limit holds for every file the subshell writes, its stdout included (a log file of CI's may be far
# past 20 KB already): the report goes to a small file, printed afterwards, and SIGXFSZ is ignored.
(trap '' XFSZ; ulimit -f 20; vg pretrain-full-disk 1 pretrain --config "$W/config.json" --data "$W/shards" --output "$W/full" --threads 1 \
    > "$W/sub.report" 2>&1; echo "$passed $failed" > "$W/sub")
cat "$W/sub.report"
if read -r p f < "$W/sub"; then passed=$p failed=$f; else failed=$((failed + 1)); echo "FAIL pretrain-full-disk: no result"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
