#!/usr/bin/env bash
# soak.sh: a long pretraining run watched from outside for anything that grows (run from the repository
# root; uses build/bigs, or $BIGS; not part of make test: `make soak`). It makes its own corpus (3000
# documents of random sentences) and shards (the test vocabulary, 128 tokens), then pretrains a small BiGS
# (2,122,054 parameters, 3 layers, L=128, batch 8, one thread) for STEPS steps (20,000) with an evaluation
# and a checkpoint every 500 steps and the newest 3 kept. Half-way it sends SIGTERM (the run must save a
# checkpoint and exit 143) and resumes the run with --resume. Each process is sampled every 10 s during its
# first minute (WARMUP) and every 60 s (INTERVAL) after: VmRSS, RssAnon and VmHWM from /proc/PID/status, its threads, its open
# file descriptors (/proc/PID/fd), the output folder's checkpoints, *.tmp folders and size. Every sample
# is printed as it is taken, then the table again, and written to $CSV (build/soak.csv).
#
# PASS needs every one of these (each printed as an ok or FAIL line):
#   - the stop: exit 143, "stopped by signal 15 at step N", checkpoint-N complete; the resume: it takes
#     checkpoint-N, exits 0, and writes model.safetensors and all_results.json; bigs info on the folder
#     exits 0;
#   - RSS flat, for each of the two processes: its warm-up is its first WARMUP s (60) and lasts at least
#     until it has done its first evaluation and checkpoint (step 500; for the resumed one, the next
#     multiple of 500); with B its first sample after warm-up, the largest VmRSS over the last half of its
#     samples is at most B + RSS_TOL% of B (5%);
#   - file descriptors stable, for each process: after warm-up every sample is within 2 of the first
#     sample after warm-up (a file open for a checkpoint or an evaluation at that moment), and the
#     threads do not change;
#   - checkpoints: no sample sees more than 3 complete checkpoints, except one taken between a checkpoint's
#     rename and its rotation (then the next sample is back to 3), and the run ends with at most 3 and no
#     *.tmp;
#   - the folder's size never exceeds 4 checkpoints (3 kept and one being written), the final model and
#     4 MB (the logs).
# The last line is "soak: PASS" or "soak: FAIL" (exit 1). Settings: STEPS (20000), THREADS (1), RSS_TOL
# (5, in percent), WARMUP (60 s), INTERVAL (60 s between samples after warm-up), CSV (build/soak.csv), BIGS,
# KEEP=1 keeps the scratch folder (it is also kept after a failure).
# Example (a rehearsal of a few minutes): STEPS=3000 WARMUP=20 INTERVAL=10 scripts/soak.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
BIGS=$(realpath "${BIGS:-build/bigs}")
STEPS=${STEPS:-20000}
THREADS=${THREADS:-1}
RSS_TOL=${RSS_TOL:-5}
CSV=${CSV:-build/soak.csv}
VOCAB=$(realpath tests/tokenizer/vocab-uncased.txt)
WARMUP=${WARMUP:-60} INTERVAL=${INTERVAL:-60}
EVERY=500 LIMIT=3
[ -x "$BIGS" ] || { echo "soak: $BIGS is missing (run make first)" >&2; exit 1; }
[[ $STEPS =~ ^[0-9]+$ && $STEPS -ge 1000 && $THREADS =~ ^[0-9]+$ && $RSS_TOL =~ ^[0-9]+$ && $WARMUP =~ ^[0-9]+$ && $INTERVAL =~ ^[1-9][0-9]*$ ]] ||
    { echo "soak: STEPS must be a number of at least 1000; THREADS, RSS_TOL, WARMUP and INTERVAL numbers" >&2; exit 2; }
mkdir -p "$(dirname "$CSV")"
W=$(mktemp -d "${TMPDIR:-/tmp}/bigs-soak.XXXXXX")
out=$W/run
echo "soak: $STEPS steps, $THREADS thread(s), a SIGTERM and --resume at step $((STEPS / 2)), scratch $W, samples to $CSV"

passed=0 failed=0 pid=""
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    if [ "$failed" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$W"; else echo "soak: kept $W"; fi
}
trap finish EXIT
tail_of() { tail -c 400 "$1" | tr '\n' ' '; }

# ---------------------------------------------------------------------------------------------------------
# corpus, shards, config

awk 'BEGIN { srand(2); n = split("the cat dog sat on a mat under tree house ran quickly slowly big small red green blue river " \
     "mountain city people good bad old new day night water fire stone light dark warm cold king queen ship sea road " \
     "book music school garden window door table chair bread milk song bird field hill wind rain snow", w, " ")
     for (d = 0; d < 3000; d++) { for (s = 3 + int(rand() * 10); s > 0; s--) { nw = 4 + int(rand() * 14); line = ""
         for (k = 0; k < nw; k++) line = line (k ? " " : "") w[1 + int(rand() * n)]; print line "." } print "" } }' > "$W/corpus.txt"
if "$BIGS" prepare --vocab "$VOCAB" --input "$W/corpus.txt" --output "$W/shards" --max-len 128 --val-fraction 0.05 --threads 1 >/dev/null 2>"$W/err"; then
    ok "prepare: $("$BIGS" info "$W/shards" --json | sed -n 's/.*"train":{"shards":\([0-9]*\),"blocks":\([0-9]*\),"sequences":\([0-9]*\).*/\3 training sequences in \2 blocks/p')"
else bad "prepare failed: $(tail_of "$W/err")"; exit 1; fi
cat > "$W/config.json" <<EOF
{"model": {"vocab_size": 30522, "hidden_size": 64, "num_hidden_layers": 3, "intermediate_size": 128, "num_ssm": 16,
           "max_position_embeddings": 128},
 "train": {"learning_rate": 1e-3, "warmup_steps": 200, "max_steps": $STEPS, "lr_scheduler_type": "cosine", "min_lr_ratio": 0.1,
           "per_device_train_batch_size": 8, "per_device_eval_batch_size": 16, "max_seq_length": 128,
           "save_steps": $EVERY, "save_total_limit": $LIMIT, "eval_steps": $EVERY, "eval_batches": 4, "logging_steps": 100}}
EOF

# ---------------------------------------------------------------------------------------------------------
# sampling

# status_kb PID FIELD: a field of /proc/PID/status in kB (or the count, for Threads); empty once it is gone
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
# last_step: the step of the newest line of metrics.jsonl (0 before the first)
last_step() { tail -c 400 "$out/metrics.jsonl" 2>/dev/null | grep -o '"step":[0-9]*' | tail -n 1 | cut -d: -f2 || true; }
count_ckpt() {  # n_done = complete checkpoint folders of the run, n_tmp = unfinished ones
    local d
    n_done=0 n_tmp=0
    for d in "$out"/checkpoint-*; do
        case $d in *.tmp) [ -d "$d" ] && n_tmp=$((n_tmp + 1)) ;; *) [ -f "$d/trainer_state.json" ] && n_done=$((n_done + 1)) ;; esac
    done
}
fd_list() { local f; for f in /proc/"$1"/fd/*; do readlink "$f"; done 2>/dev/null | sed "s|$W|\$W|" | sort; }
echo "elapsed_s,proc,pid,proc_s,step,vmrss_kb,rss_hi_kb,rssanon_kb,vmhwm_kb,threads,fds,checkpoints,tmp,out_kb" > "$CSV"
FMT='%-8s %-5s %-7s %-6s %-9s %-9s %-10s %-9s %-7s %-4s %-6s %-4s %-8s\n'
FMT_ROW='%-5s %-7s %-6s %-9s %-9s %-10s %-9s %-7s %-4s %-6s %-4s %-8s\n'
ROWS=()  # "proc proc_s step rss rss_hi anon hwm threads fds ckpts tmp out_kb" per sample
T0=$(date +%s)
printf "$FMT" elapsed proc proc_s step VmRSS_kB rss_hi_kB RssAnon_kB VmHWM_kB threads fds ckpts tmp out_kB
# sample PROC PROC_START: one row (nothing when the process is already gone). VmRSS and RssAnon are the
# lowest of 5 readings 0.4 s apart: an evaluation holds some 85 MB more for the half second it runs (see
# VmHWM), and a sample that fell into one would hide the resident floor that a leak raises; rss_hi is the
# highest of the readings.
sample() {
    local now rss="" anon="" hi=0 hwm thr fds step outkb i v a
    now=$(date +%s)
    for i in 1 2 3 4 5; do
        v=$(status_kb "$pid" VmRSS) a=$(status_kb "$pid" RssAnon)
        [ -n "$v" ] && [ -n "$a" ] || break
        { [ -z "$rss" ] || [ "$v" -lt "$rss" ]; } && rss=$v
        { [ -z "$anon" ] || [ "$a" -lt "$anon" ]; } && anon=$a
        [ "$v" -gt "$hi" ] && hi=$v
        [ "$i" -lt 5 ] && sleep 0.4
    done
    hwm=$(status_kb "$pid" VmHWM) thr=$(status_kb "$pid" Threads)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    [ -n "$rss" ] && [ "$fds" -gt 0 ] || return 0
    step=$(last_step); step=${step:-0}
    count_ckpt
    outkb=$(du -sk "$out" 2>/dev/null | cut -f1)
    ROWS+=("$1 $((now - $2)) $step $rss $hi $anon $hwm $thr $fds $n_done $n_tmp $outkb")
    echo "$((now - T0)),$1,$pid,$((now - $2)),$step,$rss,$hi,$anon,$hwm,$thr,$fds,$n_done,$n_tmp,$outkb" >> "$CSV"
    printf "$FMT" $((now - T0)) "$1" $((now - $2)) "$step" "$rss" "$hi" "$anon" "$hwm" "$thr" "$fds" "$n_done" "$n_tmp" "$outkb"
    [ ! -f "$W/fds-first-$1" ] && [ $((now - $2)) -ge "$WARMUP" ] && [ "$step" -gt "$warm_step" ] && fd_list "$pid" > "$W/fds-first-$1"
    fd_list "$pid" > "$W/fds-last-$1"
}
# watch PROC [STOP_AT]: samples the running bigs ($pid) until it exits (rc = its status); with STOP_AT, sends
# SIGTERM once metrics.jsonl reaches that step
watch() {
    local start next now
    start=$(date +%s) next=10 stopped=""
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        now=$(( $(date +%s) - start ))
        if [ "$now" -ge "$next" ]; then
            sample "$1" "$start"
            next=$(( next < WARMUP ? next + 10 : next + INTERVAL ))
        fi
        if [ -n "${2:-}" ] && [ -z "$stopped" ] && [ "$(last_step)" -ge "$2" ] 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null; stopped=$(( $(date +%s) - T0 ))
        fi
    done
    { wait "$pid"; } 2>/dev/null; rc=$?; pid=""
}

# ---------------------------------------------------------------------------------------------------------
# the run: to the middle, SIGTERM, --resume to the end

warm_step=$EVERY  # warm-up lasts at least until the process has done its first evaluation and checkpoint
"$BIGS" pretrain --config "$W/config.json" --data "$W/shards" --output "$out" --threads "$THREADS" >"$W/run1.log" 2>&1 &
pid=$!
warm1=$warm_step
watch 1 $((STEPS / 2))
rc1=$rc
stop_step=$(sed -n 's/.*stopped by signal 15 at step \([0-9]*\);.*/\1/p' "$W/run1.log" | tail -n 1)
if [ "$rc1" -eq 143 ] && [ -n "$stop_step" ] && [ -f "$out/checkpoint-$stop_step/trainer_state.json" ]; then
    ok "SIGTERM at $stopped s: exit 143, 'stopped by signal 15 at step $stop_step', checkpoint-$stop_step saved"
else bad "the first run: exit status $rc1 (expected 143 after SIGTERM), stop step '${stop_step:-}': $(tail_of "$W/run1.log")"; stop_step=""; fi
warm_step=$(( (${stop_step:-$((STEPS / 2))} / EVERY + 1) * EVERY ))
"$BIGS" pretrain --config "$W/config.json" --data "$W/shards" --output "$out" --threads "$THREADS" --resume >"$W/run2.log" 2>&1 &
pid=$!
warm2=$warm_step
watch 2
rc2=$rc
T1=$(date +%s)
if [ "$rc2" -ne 0 ]; then bad "the resumed run: exit status $rc2: $(tail_of "$W/run2.log")"
elif [ -n "$stop_step" ] && ! grep -q "resuming from $out/checkpoint-$stop_step (step $stop_step of $STEPS)" "$W/run2.log"; then
    bad "the resumed run did not take checkpoint-$stop_step: $(grep -m1 -E 'resuming|no checkpoint' "$W/run2.log")"
elif [ ! -f "$out/model.safetensors" ] || ! grep -q '"train_loss"' "$out/all_results.json" 2>/dev/null; then bad "the resumed run wrote no final model or no all_results.json"
elif ! "$BIGS" info "$out" >/dev/null 2>"$W/err"; then bad "bigs info $out failed: $(tail_of "$W/err")"
else ok "--resume from checkpoint-$stop_step: exit 0 after $((T1 - T0)) s in all, final model and all_results.json ($(tr -d '\n\t' < "$out/all_results.json" | sed 's/,"train_runtime":[^,]*//')), bigs info exits 0"; fi

# ---------------------------------------------------------------------------------------------------------
# the rules

echo
echo "samples (also in $CSV):"
printf "$FMT_ROW" proc proc_s step VmRSS_kB rss_hi_kB RssAnon_kB VmHWM_kB threads fds ckpts tmp out_kB
for r in "${ROWS[@]}"; do printf "$FMT_ROW" $r; done
echo
for p in 1 2; do
    # this process's samples after warm-up (its first WARMUP s, and its first evaluation and checkpoint):
    # "rss fds threads" each
    post=() all=() ws=$([ "$p" = 1 ] && echo "$warm1" || echo "$warm2")
    for r in "${ROWS[@]}"; do
        set -- $r
        [ "$1" = "$p" ] || continue
        all+=("$4")
        [ "$2" -ge "$WARMUP" ] && [ "$3" -gt "$ws" ] && post+=("$4 $9 $8")
    done
    if [ ${#post[@]} -lt 2 ]; then bad "process $p: ${#post[@]} samples after its warm-up, too few to judge (a longer run: STEPS)"; continue; fi
    set -- ${post[0]}; base=$1 fd0=$2 thr0=$3
    half=$(( ${#all[@]} / 2 )) max=0
    for ((i = half; i < ${#all[@]}; i++)); do [ "${all[$i]}" -gt "$max" ] && max=${all[$i]}; done
    lim=$(( base + base * RSS_TOL / 100 ))
    first=${all[0]} last=${all[$((${#all[@]} - 1))]}
    desc="process $p (${#all[@]} samples, ${#post[@]} after warm-up): VmRSS first $first kB, after warm-up $base kB, last $last kB, max of the last half $max kB"
    if [ "$max" -le "$lim" ]; then ok "RSS flat: $desc <= $lim kB (+$RSS_TOL%)"
    else bad "RSS grows: $desc > $lim kB (+$RSS_TOL%)"; fi
    fmin=$fd0 fmax=$fd0 tbad=""
    for s in "${post[@]}"; do
        set -- $s
        [ "$2" -lt "$fmin" ] && fmin=$2; [ "$2" -gt "$fmax" ] && fmax=$2
        [ "$3" != "$thr0" ] && tbad="$tbad $3"
    done
    if [ $((fmax - fd0)) -le 2 ] && [ $((fd0 - fmin)) -le 2 ] && [ -z "$tbad" ]; then
        ok "fds stable: process $p, $fd0 open file descriptors after warm-up, $fmin to $fmax in every sample after it; $thr0 threads throughout"
    else
        bad "fds or threads not stable: process $p, $fd0 after warm-up, $fmin to $fmax later; threads $thr0 then${tbad:- the same}"
        [ -f "$W/fds-first-$p" ] && echo "     open at the last sample, not after warm-up: $(comm -13 "$W/fds-first-$p" "$W/fds-last-$p" | uniq -c | tr '\n' ' ')"
    fi
done
# checkpoints: at most LIMIT complete ones in each sample (LIMIT+1 only between a rename and its rotation,
# so the next sample is back to LIMIT)
over="" prev_over=""
for r in "${ROWS[@]}"; do
    set -- $r
    if [ "${10}" -gt $((LIMIT + 1)) ] || { [ "${10}" -gt "$LIMIT" ] && [ -n "$prev_over" ]; }; then over="$over $1:$2s=${10}"; fi
    prev_over=""; [ "${10}" -gt "$LIMIT" ] && prev_over=1
done
count_ckpt
if [ -z "$over" ] && [ "$n_done" -le "$LIMIT" ] && [ "$n_tmp" -eq 0 ] && [ -z "$prev_over" ]; then
    ok "checkpoints: at most $LIMIT in every sample, $n_done at the end ($(ls "$out" | grep '^checkpoint-' | tr '\n' ' ' | sed 's/ $//')), no *.tmp"
else bad "checkpoints beyond save_total_limit $LIMIT: samples (process:time=count)${over:- none}; at the end $n_done complete, $n_tmp *.tmp"; fi
# the folder's size: 4 checkpoints, the final model and 4 MB at most
newest=$(ls -d "$out"/checkpoint-* 2>/dev/null | grep -v '\.tmp$' | sort -t- -k2 -n | tail -n 1)
ck_kb=$(du -sk "$newest" 2>/dev/null | cut -f1) model_kb=$(du -sk "$out/model.safetensors" 2>/dev/null | cut -f1)
if [ -n "$ck_kb" ] && [ -n "$model_kb" ]; then
    bound=$(( (LIMIT + 1) * ck_kb + model_kb + 4096 )) maxkb=0
    for r in "${ROWS[@]}"; do set -- $r; [ "${12}" -gt "$maxkb" ] && maxkb=${12}; done
    endkb=$(du -sk "$out" | cut -f1)
    [ "$endkb" -gt "$maxkb" ] && maxkb=$endkb
    if [ "$maxkb" -le "$bound" ]; then ok "output folder: at most $maxkb kB (bound $bound kB: $((LIMIT + 1)) checkpoints of $ck_kb kB, the model, 4 MB), $endkb kB at the end"
    else bad "output folder grows: $maxkb kB, beyond $bound kB ($((LIMIT + 1)) checkpoints of $ck_kb kB, the model, 4 MB)"; fi
else bad "output folder: no checkpoint or final model to size it by"; fi

echo "$passed passed, $failed failed"
if [ "$failed" -eq 0 ]; then echo "soak: PASS"; else echo "soak: FAIL"; exit 1; fi
