#!/usr/bin/env bash
# bench_mpi.sh: data-parallel throughput on this machine. Pretrains BiGS-small (L=128, a global batch
# of 16 sequences) as 1 process x all threads and as N processes x 1 thread each (N = cores), and prints
# the median training tokens/s of each and their ratio. Also writes a JSON line to $OUT (default
# build/bench_mpi.json).
#
#   scripts/bench_mpi.sh [--steps N] [--reps R]
#
# Needs a bigs built with MPI (make MPI=1; automatic when mpicc is installed) and mpirun.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=8
REPS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) STEPS=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_mpi.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
BIGS=${BIGS:-build/bigs}
OUT=${OUT:-build/bench_mpi.json}
[ -x "$BIGS" ] || make -s "$BIGS"
command -v mpirun >/dev/null || { echo "bench_mpi.sh: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 1; }
"$BIGS" --version | grep -q "MPI v" || { echo "bench_mpi.sh: $BIGS was built without MPI (make clean && make MPI=1)" >&2; exit 1; }
CORES=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
WORK=$(mktemp -d /tmp/bigs-bench-mpi-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# a synthetic corpus from the test vocabulary: enough text for every step to read fresh sequences
synthetic_corpus() {
    awk 'NR > 1000 && !/^\[/ && !/^##/ && length($0) > 2 { w[n++] = $0 }
         END { srand(7); for (d = 0; d < 400; d++) { for (l = 0; l < 12; l++) { s = "";
               for (k = 0; k < 24; k++) s = s (k ? " " : "") w[int(rand() * n)]; print s "." } print "" } }' \
        tests/tokenizer/vocab-uncased.txt
}
synthetic_corpus > "$WORK/corpus.txt"
"$BIGS" prepare --vocab tests/tokenizer/vocab-uncased.txt --input "$WORK/corpus.txt" --output "$WORK/shards" --max-len 128 --quiet >/dev/null

# median tokens/s over the logged steps after the first (warm-up) of one run's metrics.jsonl
median_tps() {
    grep '"tokens_per_sec"' "$1" | sed 's/.*"tokens_per_sec":\([0-9.e+]*\).*/\1/' | tail -n +2 | sort -g |
        awk '{ v[n++] = $1 } END { print (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2 }'
}
run() {  # run NAME PROCS THREADS BATCH
    local dir="$WORK/$1-$5" sets="--set train.max_steps=$STEPS --set train.logging_steps=1 --set train.eval_steps=0 --set train.save_steps=0"
    if [ "$2" = 1 ]; then
        "$BIGS" pretrain --config configs/bigs-small.json --data "$WORK/shards" --output "$dir" --threads "$3" \
            --set train.per_device_train_batch_size="$4" $sets --quiet >/dev/null
    else
        mpirun --oversubscribe -np "$2" "$BIGS" pretrain --config configs/bigs-small.json --data "$WORK/shards" --output "$dir" \
            --threads "$3" --set train.per_device_train_batch_size="$4" $sets --quiet >/dev/null
    fi
    median_tps "$dir/metrics.jsonl"
}
one=() many=()
for r in $(seq "$REPS"); do  # interleaved, so both see the same machine load
    one+=("$(run one 1 "$CORES" 16 "$r")")
    many+=("$(run many "$CORES" 1 $((16 / CORES)) "$r")")
done
med() { printf '%s\n' "$@" | sort -g | awk '{ v[n++] = $1 } END { print (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2 }'; }
m1=$(med "${one[@]}")
mn=$(med "${many[@]}")
ratio=$(awk -v a="$mn" -v b="$m1" 'BEGIN { printf "%.2f", a / b }')
printf '\nBiGS-small pretraining, L=128, global batch 16, %d steps x %d repetitions (median tokens/s)\n' "$STEPS" "$REPS"
printf '%-34s %12s\n' "layout" "tokens/s"
printf '%-34s %12.0f   (runs: %s)\n' "1 process x $CORES threads" "$m1" "${one[*]}"
printf '%-34s %12.0f   (runs: %s)\n' "$CORES processes x 1 thread (mpirun)" "$mn" "${many[*]}"
printf '%-34s %12s\n' "ratio (processes / threads)" "${ratio}x"
mkdir -p "$(dirname "$OUT")"
printf '{"config":"bigs-small","L":128,"global_batch":16,"steps":%d,"reps":%d,"one_process_threads":%d,"tokens_per_sec_1proc":%s,"processes":%d,"tokens_per_sec_mpi":%s,"ratio":%s}\n' \
    "$STEPS" "$REPS" "$CORES" "$m1" "$CORES" "$mn" "$ratio" > "$OUT"
echo "wrote $OUT"
