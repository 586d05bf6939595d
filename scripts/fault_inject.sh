#!/usr/bin/env bash
# fault_inject.sh: kills, full disks, corrupt data and NaNs against `bigs pretrain` (run from the repository
# root; uses build/bigs, or $BIGS). It makes its own corpus, shards and tiny config, then:
#   1. an uninterrupted reference run (1 thread), whose checkpoints are hashed and whose final
#      model.safetensors every other run must equal bitwise;
#   2. KILLS times (default 20): start the run with --resume in one output folder and SIGKILL it at a
#      seeded random moment (the first kill before any checkpoint, every other kill during a checkpoint
#      write, the rest at moments spread over the run); after each kill every complete checkpoint must
#      equal the reference's checkpoint of the same step file by file, the newest must load (bigs info,
#      bigs predict, trainer_state.json parses), and the next run must resume from exactly that one
#      (or start afresh when there is none); finally --resume finishes the run: bitwise the reference;
#   3. PHASE_KILLS times (default: KILLS rounded up to a multiple of 5): SIGKILL in a chosen phase of a chosen step (the test hook
#      BIGS_TEST_KILL_IN): at an evaluation, inside a checkpoint write, between a checkpoint's rename and the
#      rotation of the old ones, after the last step before the final model, and at random moments; after
#      each kill the newest checkpoint is the one the phase implies, every complete one equals the
#      reference's and the newest loads, the only *.tmp is the write the kill cut short, and save_total_limit
#      holds once the resumed run saves again; a final kill's --resume writes the final model and
#      all_results.json; the series ends bitwise equal to the reference;
#   4. a full disk while a checkpoint is written: a file-size limit (ulimit -f; always) and a small tmpfs
#      (when mount is permitted): exit 1 naming the file, no *.tmp left, the previous checkpoint intact,
#      and --resume in a roomy folder ends bitwise equal to the reference;
#   5. bytes flipped inside one compressed block of a shard: exit 1 naming the shard and the block;
#   6. BIGS_INJECT_NAN_AT_STEP=N: exit 1 naming step N, the last checkpoint before it intact, and
#      --resume ends bitwise equal to the reference.
# One line per check, then "N passed, N failed"; the exit status is 1 on any failure. Settings:
# KILLS (20), PHASE_KILLS (KILLS rounded up to a multiple of 5), SEED (random; printed, and SEED=... repeats the choices), STEPS (120), BIGS,
# KEEP=1 keeps the scratch folder (it is also kept after a failure). Example: KILLS=4 scripts/fault_inject.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
BIGS=$(realpath "${BIGS:-build/bigs}")
KILLS=${KILLS:-20}
STEPS=${STEPS:-120}
SEED=${SEED:-$(( $(date +%s%N) % 1000000 ))}
VOCAB=$(realpath tests/tokenizer/vocab-uncased.txt)
SAVE=3  # save_steps: a checkpoint every 3 steps, so that about half of the run's time is spent saving
EVAL=7  # eval_steps: 17 evaluations besides those at step 0 and the last step, on and between checkpoint steps
[ -x "$BIGS" ] || { echo "fault_inject: $BIGS is missing (run make first)" >&2; exit 1; }
[[ $KILLS =~ ^[0-9]+$ && ${PHASE_KILLS:-0} =~ ^[0-9]+$ && $STEPS =~ ^[0-9]+$ && $STEPS -ge 30 ]] ||
    { echo "fault_inject: KILLS and PHASE_KILLS must be numbers and STEPS at least 30" >&2; exit 2; }
# as many phase kills as random ones, rounded up to a multiple of 5 (so CI's KILLS=4 gives one of each kind)
PHASE_KILLS=${PHASE_KILLS:-$(( (KILLS + 4) / 5 * 5 ))}
RANDOM=$SEED
W=$(mktemp -d "${TMPDIR:-/tmp}/bigs-fault.XXXXXX")
echo "fault_inject: seed $SEED, $KILLS kills, $PHASE_KILLS phase kills, $STEPS steps, scratch $W (reproduce: SEED=$SEED KILLS=$KILLS PHASE_KILLS=$PHASE_KILLS STEPS=$STEPS $0)"

passed=0 failed=0 pid="" mounted=""
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    if [ "$failed" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$W"; else echo "fault_inject: kept $W"; fi
}
trap finish EXIT
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# R = uniform in 0..$1. Not $(rand): bash reseeds RANDOM in every subshell, which would lose the seed.
rand() { R=$(( (RANDOM * 32768 + RANDOM) % ($1 + 1) )); }
rand 999999; r_block=$R; rand 999999; r_nan=$R  # drawn first, so that the kill phase cannot shift them
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
tail_of() { tail -c 400 "$1" | tr '\n' ' '; }
json_ok() {  # $1 parses as JSON (jq, else python3; without either only the hash comparison covers it)
    if command -v jq >/dev/null; then jq -e . "$1" >/dev/null 2>&1
    elif command -v python3 >/dev/null; then python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null
    else return 0; fi
}
command -v jq >/dev/null || command -v python3 >/dev/null ||
    echo "fault_inject: neither jq nor python3: trainer_state.json is checked against the reference's bytes only"
pretrain() {  # pretrain OUT [ARGS...]: the run every test repeats (same config, data and thread count)
    local out=$1; shift
    "$BIGS" pretrain --config "$W/config.json" --data "$W/shards" --output "$out" --threads 1 "$@"
}
# The newest checkpoint-N of $1 with trainer_state.json (what --resume takes), or 0 when none.
newest() {
    local best=0 d n
    for d in "$1"/checkpoint-*; do
        n=${d##*/checkpoint-}
        [[ $n =~ ^[0-9]+$ ]] && [ -f "$d/trainer_state.json" ] && [ "$n" -gt "$best" ] && best=$n
    done
    echo "$best"
}
# sum FILE: its sha256; a trainer_state.json without its run_id (each run has its own id) and save_total_limit
# (the reference keeps every checkpoint)
sum() { case "$1" in *trainer_state.json) grep -v -e '"run_id"' -e '"save_total_limit"' "$1" | sha256sum | cut -d' ' -f1 ;; *) sha256sum < "$1" | cut -d' ' -f1 ;; esac; }
# ckpt_same DIR N: every file of checkpoint DIR equals the reference's checkpoint-N (sha256); sets why.
ckpt_same() {
    local f want got
    for f in config.json model.safetensors optimizer.safetensors trainer_state.json vocab.txt; do
        want=$(awk -v p="checkpoint-$2/$f" '$2 == p { print $1 }' "$W/ref.sha")
        [ -n "$want" ] || { why="the reference has no checkpoint-$2/$f"; return 1; }
        [ -f "$1/$f" ] || { why="$1/$f is missing"; return 1; }
        got=$(sum "$1/$f")
        [ "$got" = "$want" ] || { why="$1/$f differs from the reference's checkpoint-$2/$f"; return 1; }
    done
}
# ckpt_loads DIR N: bigs reads the checkpoint: the folder (bigs info checks its step, loss and moments),
# both safetensors files, the whole model by name and shape (predict), and trainer_state.json with
# global_step N; sets why.
ckpt_loads() {
    local f
    "$BIGS" info "$1" >/dev/null 2>"$W/err" || { why="bigs info $1 failed: $(tail_of "$W/err")"; return 1; }
    for f in model.safetensors optimizer.safetensors; do
        "$BIGS" info "$1/$f" >/dev/null 2>"$W/err" || { why="bigs info $1/$f failed: $(tail_of "$W/err")"; return 1; }
    done
    "$BIGS" predict --model "$1" --text "the cat sat on the [MASK]." --threads 1 >/dev/null 2>"$W/err" ||
        { why="bigs predict --model $1 failed: $(tail_of "$W/err")"; return 1; }
    json_ok "$1/trainer_state.json" || { why="$1/trainer_state.json is not valid JSON"; return 1; }
    grep -Eq "\"global_step\":[[:space:]]*$2," "$1/trainer_state.json" || { why="$1/trainer_state.json does not say global_step $2"; return 1; }
}
# all_intact OUT: every complete checkpoint in OUT equals the reference's, and the newest loads.
all_intact() {
    local d n top
    top=$(newest "$1")
    for d in "$1"/checkpoint-*; do
        n=${d##*/checkpoint-}
        [[ $n =~ ^[0-9]+$ ]] && [ -f "$d/trainer_state.json" ] || continue
        ckpt_same "$d" "$n" || return 1
    done
    [ "$top" -eq 0 ] || ckpt_loads "$1/checkpoint-$top" "$top"
}
no_tmp() { [ -z "$(find "$1" -name '*.tmp' 2>/dev/null)" ]; }
same_as_ref() { cmp -s "$W/ref/model.safetensors" "$1/model.safetensors"; }

# ---------------------------------------------------------------------------------------------------------
# corpus, shards, config

# About 700 documents of random sentences over a 60-word vocabulary (the corpus is fixed; SEED only
# moves the faults).
awk 'BEGIN { srand(1); n = split("the cat dog sat on a mat under tree house ran quickly slowly big small red green blue river " \
     "mountain city people good bad old new day night water fire stone light dark warm cold king queen ship sea road " \
     "book music school garden window door table chair bread milk song bird field hill wind rain snow", w, " ")
     for (d = 0; d < 700; d++) { for (s = 2 + int(rand() * 6); s > 0; s--) { nw = 4 + int(rand() * 14); line = ""
         for (k = 0; k < nw; k++) line = line (k ? " " : "") w[1 + int(rand() * n)]; print line "." } print "" } }' > "$W/corpus.txt"
if "$BIGS" prepare --vocab "$VOCAB" --input "$W/corpus.txt" --output "$W/shards" --max-len 64 --val-fraction 0.1 --threads 1 >/dev/null 2>"$W/err"; then
    ok "prepare: $("$BIGS" info "$W/shards" --json | sed -n 's/.*"train":{"shards":\([0-9]*\),"blocks":\([0-9]*\),"sequences":\([0-9]*\).*/\3 training sequences in \2 blocks/p')"
else bad "prepare failed: $(tail_of "$W/err")"; exit 1; fi
cat > "$W/config.json" <<EOF
{"model": {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64, "num_ssm": 8,
           "max_position_embeddings": 64},
 "train": {"learning_rate": 2e-3, "warmup_steps": 5, "max_steps": $STEPS, "lr_scheduler_type": "linear",
           "per_device_train_batch_size": 8, "per_device_eval_batch_size": 16, "max_seq_length": 64,
           "save_steps": $SAVE, "save_total_limit": 2, "eval_steps": $EVAL, "eval_batches": 2, "logging_steps": 10}}
EOF

# ---------------------------------------------------------------------------------------------------------
# the reference: uninterrupted, every checkpoint kept (save_total_limit does not change the training) and
# hashed, then removed but for the final model

t0=$(now_ms)
if pretrain "$W/ref" --set train.save_total_limit=100000 >"$W/ref.log" 2>&1; then
    ref_ms=$(( $(now_ms) - t0 ))
    (cd "$W/ref" && for f in checkpoint-*/*; do echo "$(sum "$f")  $f"; done) > "$W/ref.sha"
    nck=$(ls -d "$W/ref"/checkpoint-* | wc -l)
    ok "reference run: $STEPS steps in $((ref_ms / 1000)).$(printf %03d $((ref_ms % 1000))) s, $nck checkpoints hashed"
    rm -rf "$W/ref"/checkpoint-*
else bad "the reference run failed: $(tail_of "$W/ref.log")"; exit 1; fi
MODEL_BYTES=$(stat -c %s "$W/ref/model.safetensors")
step_ms=$(( ref_ms / STEPS ))  # the run's time per step, saves and evaluations included

# ---------------------------------------------------------------------------------------------------------
# kill -9 at random moments

# Moments for the "spread" kills (kills 3, 5, 7, ...): sorted, uniform over 90% of the reference run's
# duration, so that they cover the whole run (drawn in 1/10000ths of it, so a seed gives the same ones).
draw_moments() {
    local k f=()
    for ((k = 0; k < $1; k++)); do rand 8999; f+=("$R"); done
    moments=($(printf '%s\n' "${f[@]}" | sort -n)); mi=0
}
# signature of the unfinished checkpoint folders (inode and change time): a new one means that the
# kill cut a checkpoint write short
tmp_sig() { local d; for d in "$1"/checkpoint-*.tmp; do [ -e "$d" ] && stat -c '%n %i %z' "$d"; done; }
# expect: what the next run must take: "new" (a new folder), "fresh" (a kill left no checkpoint) or N
out=$W/killed round=1 kills=0 attempts=0 in_save=0 fresh_checked=0 resumes_checked=0 expect=new
draw_moments $(( (KILLS - 1) / 2 ))
t_kills=$(now_ms)
while [ "$kills" -lt "$KILLS" ] && [ "$attempts" -lt $((3 * KILLS + 3)) ]; do
    attempts=$((attempts + 1))
    i=$((kills + 1)) c=$(newest "$out")
    if [ "$i" -eq 1 ]; then mode=first; elif [ $((i % 2)) -eq 0 ] && [ $((c + 2 * SAVE)) -le "$STEPS" ]; then mode=save; else mode=spread; fi
    sig=$(tmp_sig "$out")
    # a simple command, so that $! is bigs itself (a shell function would be a subshell that outlives the kill)
    "$BIGS" pretrain --config "$W/config.json" --data "$W/shards" --output "$out" --threads 1 --resume >"$W/run.log" 2>&1 &
    pid=$!
    t_start=$(now_ms)
    case $mode in
    first)  # just after the run has started, long before its first checkpoint (step 3)
        while kill -0 "$pid" 2>/dev/null && [ ! -f "$out/train_config.json" ]; do sleep 0.002; done
        rand 10; sleep_ms "$R"; what="before the first checkpoint" ;;
    save)   # while a checkpoint folder is being written (a leftover checkpoint-N.tmp of an earlier kill is skipped)
        target=$((c + SAVE))
        [ -e "$out/checkpoint-$target.tmp" ] && target=$((c + 2 * SAVE))
        # (the folder is polled under both names, so that a bigs writing in place is caught too)
        while kill -0 "$pid" 2>/dev/null && [ ! -e "$out/checkpoint-$target.tmp" ] && [ ! -e "$out/checkpoint-$target" ]; do sleep 0.002; done
        rand 25; sleep_ms "$R"; what="while checkpoint-$target is saved" ;;
    spread) # at the next of the moments, measured on the reference run's timeline from checkpoint-c on
        rand 8999; f=${moments[$mi]:-$R}; mi=$((mi + 1)); m=$(( f * ref_ms / 10000 ))
        rand $((2 * step_ms)); d=$(( m - c * step_ms )); [ "$d" -lt 0 ] && d=$R
        sleep_ms "$d"; what="at $((f / 100)).$((f / 10 % 10))% of the reference run's duration" ;;
    esac
    kill -9 "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null; rc=$?  # (the braces keep bash's "Killed" notice out of the output)
    pid=""
    after=$(( $(now_ms) - t_start ))
    # the run's log says which checkpoint it took: it must be the newest complete one (or none)
    if grep -q "^pretraining" "$W/run.log"; then
        resumes_checked=$((resumes_checked + 1))
        if [[ $expect =~ ^[a-z]+$ ]]; then grep -q "no checkpoint in $out: starting from the beginning" "$W/run.log" && took=ok || took="did not start afresh"
        else grep -q "resuming from $out/checkpoint-$expect (step $expect of" "$W/run.log" && took=ok || took="did not resume from checkpoint-$expect"; fi
        if [ "$took" != ok ]; then bad "attempt $attempts: --resume $took: $(grep -m1 -E 'resuming|no checkpoint' "$W/run.log")"; fi
        [ "$expect" = fresh ] && [ "$took" = ok ] && fresh_checked=$((fresh_checked + 1))
    fi
    if [ "$rc" -eq 0 ]; then  # the run ended before the kill: check it, and go on in a new folder
        if same_as_ref "$out"; then ok "round $round finished before kill $i ($what): model.safetensors bitwise equal to the reference"
        else bad "round $round finished before kill $i: model.safetensors differs from the reference"; fi
        round=$((round + 1)) out=$W/killed-$round expect=new
        draw_moments $(( (KILLS - kills + 1) / 2 ))
        continue
    fi
    if [ "$rc" -ne 137 ]; then bad "kill $i: the run exited by itself with status $rc: $(tail_of "$W/run.log")"; break; fi
    kills=$((kills + 1))
    hit=""
    [ -n "$(comm -13 <(echo "$sig" | sort) <(tmp_sig "$out" | sort) | grep .)" ] && { hit=", a checkpoint write cut short"; in_save=$((in_save + 1)); }
    c2=$(newest "$out")
    why=""
    expect=$c2; [ "$c2" -eq 0 ] && expect=fresh
    if ! all_intact "$out"; then bad "kill $i/$KILLS after $after ms ($what$hit): $why"
    elif [ "$c2" -eq 0 ]; then ok "kill $i/$KILLS after $after ms ($what$hit): no checkpoint yet"
    else ok "kill $i/$KILLS after $after ms ($what$hit): checkpoint-$c2 is the newest, equal to the reference's and loads"; fi
done
[ "$kills" -eq "$KILLS" ] && ok "$kills kills in $(( ($(now_ms) - t_kills) / 1000 )) s, $in_save of them during a checkpoint write; $resumes_checked runs seen taking the right checkpoint; $((round - 1)) rounds finished early" ||
    bad "only $kills of $KILLS kills happened in $attempts attempts"
if [ "$KILLS" -gt 0 ]; then
    [ "$fresh_checked" -ge 1 ] && ok "--resume after a kill that left no checkpoint started from the beginning (runs checked: $fresh_checked)" ||
        bad "no run was seen starting afresh after a kill before the first checkpoint"
fi
# the last round runs to the end
c=$(newest "$out")
if pretrain "$out" --resume >"$W/run.log" 2>&1; then
    if [ "$c" -gt 0 ] && ! grep -q "resuming from $out/checkpoint-$c (step $c of" "$W/run.log"; then bad "the final --resume did not take checkpoint-$c"
    elif ! same_as_ref "$out"; then bad "after $kills kills and --resume, model.safetensors differs from the reference"
    elif ! no_tmp "$out"; then bad "after the final --resume, *.tmp are left: $(find "$out" -name '*.tmp' | tr '\n' ' ')"
    else ok "after $kills kills, --resume from $([ "$c" -gt 0 ] && echo "checkpoint-$c" || echo "the beginning") finished: model.safetensors bitwise equal to the reference (cmp), no *.tmp left"; fi
else bad "the final --resume failed: $(tail_of "$W/run.log")"; fi

# ---------------------------------------------------------------------------------------------------------
# kill -9 in each phase of the loop (the test hook BIGS_TEST_KILL_IN=PHASE:STEP, core/base/common.c)

# PHASE_KILLS kills of five kinds: at the start of an evaluation (eval), at a random moment (random), inside a
# checkpoint write after its model files (save), after a checkpoint is renamed into place but before the
# older ones are removed (rotate), and after the last step before the results and the final model are
# written (final). Four fifths go to one chain of runs in one folder, each run resumed from where the one
# before was killed; they cycle through eval, random, save and rotate, and the j-th aims at the j-th of
# equal slices of the run, so that the chain covers the whole run. The final kills, a fifth, come after the
# chain's last kills, one after each (on a copy of the chain's folder, run to its last step, killed and
# resumed; the last one ends the chain itself): so each starts from what another kind of kill left behind,
# and none has to redo more than the last slices of the run.
KINDS=(eval random save rotate final)
LIMIT=2  # save_total_limit of the config
# count_ckpt OUT: n_all = its checkpoint-N folders (complete or not, no *.tmp), n_done = the complete ones
count_ckpt() {
    local d
    n_all=0 n_done=0
    for d in "$1"/checkpoint-*; do
        [[ ${d##*/checkpoint-} =~ ^[0-9]+$ ]] || continue
        n_all=$((n_all + 1))
        [ -f "$d/trainer_state.json" ] && n_done=$((n_done + 1))
    done
}
tmp_list() { find "$1" -maxdepth 1 -name '*.tmp' -printf '%f ' | sed 's/ $//'; }
ckpt_names() { ls "$1" | grep '^checkpoint-' | tr '\n' ' ' | sed 's/ $//'; }
prev_save() { echo $(( ($1 - 1) / SAVE * SAVE )); }  # the last checkpoint step before step $1 (0: none)
next_save() { local s=$(( ($1 / SAVE + 1) * SAVE )); [ "$s" -gt "$STEPS" ] && s=$STEPS; echo "$s"; }
# took LOG OUT C: the run's log says that it resumed from OUT/checkpoint-C, or started afresh when C is 0
took() {
    if [ "$3" -eq 0 ]; then grep -q "no checkpoint in $2: starting from the beginning" "$1"
    else grep -q "resuming from $2/checkpoint-$3 (step $3 of" "$1"; fi
}
# results_same OUT: all_results.json has train_loss and the evaluation, equal to the reference's but for
# train_runtime (the time)
results_same() {
    [ -f "$1/all_results.json" ] && grep -q '"train_loss"' "$1/all_results.json" && grep -q '"eval_loss"' "$1/all_results.json" &&
        cmp -s <(grep -v '"train_runtime"' "$W/ref/all_results.json") <(grep -v '"train_runtime"' "$1/all_results.json")
}
is_phase_step() {  # is_phase_step KIND S: step S has the phase KIND
    case $1 in
    eval) [ $(($2 % EVAL)) -eq 0 ] || [ "$2" -eq "$STEPS" ] ;;
    save) [ $(($2 % SAVE)) -eq 0 ] || [ "$2" -eq "$STEPS" ] ;;
    rotate) [ $(($2 % SAVE)) -eq 0 ] && [ "$2" -lt "$STEPS" ] ;;  # the last step's rotation: see below
    esac
}
# pick KIND LO HI C: T = a random step of KIND's phase in (max(LO, C), HI], else the first one after HI
# (empty when there is none); an evaluation at step 0 happens only in a run that starts afresh
pick() {
    local s cand=()
    [ "$1" = eval ] && [ "$2" -eq 0 ] && [ "$4" -eq 0 ] && cand+=(0)
    for ((s = ($2 > $4 ? $2 : $4) + 1; s <= $3; s++)); do is_phase_step "$1" "$s" && cand+=("$s"); done
    for ((s = $3 + 1; ${#cand[@]} == 0 && s <= STEPS; s++)); do is_phase_step "$1" "$s" && cand+=("$s"); done
    T=""
    [ ${#cand[@]} -gt 0 ] && { rand $((${#cand[@]} - 1)); T=${cand[$R]}; }
}
# spawn OUT [ENV=VALUE]: starts the run with --resume in the background (a simple command, so that $! is
# bigs itself) with the test hook when given
spawn() {
    if [ -n "${2:-}" ]; then env "$2" "$BIGS" pretrain --config "$W/config.json" --data "$W/shards" --output "$1" --threads 1 --resume >"$W/run.log" 2>&1 &
    else "$BIGS" pretrain --config "$W/config.json" --data "$W/shards" --output "$1" --threads 1 --resume >"$W/run.log" 2>&1 & fi
    pid=$!
}
reap() { { wait "$pid"; } 2>/dev/null; rc=$?; pid=""; }
# final_kill OUT WHAT: OUT runs to its last step and is killed before its results; the folder must hold the
# final checkpoint, equal to the reference's, and no final model; --resume must then take that checkpoint
# and write the final model (bitwise the reference's) and all_results.json (the reference's but the time)
final_kill() {
    local o=$1 what=$2 c c2 why=""
    c=$(newest "$o")
    spawn "$o" "BIGS_TEST_KILL_IN=final:$STEPS"; reap
    c2=$(newest "$o"); count_ckpt "$o"
    if [ "$rc" -ne 137 ]; then why="exit status $rc, expected 137 (the hook did not fire): $(tail_of "$W/run.log")"
    elif ! took "$W/run.log" "$o" "$c"; then why="the run did not take checkpoint-$c: $(grep -m1 -E 'resuming|no checkpoint' "$W/run.log")"
    elif [ "$c2" -ne "$STEPS" ]; then why="the newest checkpoint is checkpoint-$c2, expected the final checkpoint-$STEPS"
    elif ! all_intact "$o"; then :
    elif [ "$n_all" -gt "$LIMIT" ]; then why="$n_all checkpoints kept, save_total_limit is $LIMIT: $(ckpt_names "$o")"
    elif ! no_tmp "$o"; then why="left behind: $(tmp_list "$o")"
    elif [ -e "$o/model.safetensors" ] || [ -e "$o/all_results.json" ]; then why="the final model or all_results.json was written before the kill point"
    fi
    if [ -n "$why" ]; then bad "phase kill $k/$PK final:$STEPS ($what, resumed from checkpoint-$c): $why"; return; fi
    pk_final=$((pk_final + 1))
    if ! pretrain "$o" --resume >"$W/run.log" 2>&1; then why="--resume failed: $(tail_of "$W/run.log")"
    elif ! took "$W/run.log" "$o" "$STEPS"; then why="--resume did not take the final checkpoint-$STEPS: $(grep -m1 -E 'resuming|no checkpoint' "$W/run.log")"
    elif ! same_as_ref "$o"; then why="model.safetensors differs from the reference"
    elif ! results_same "$o"; then why="all_results.json lacks train_loss or the evaluation, or differs from the reference's: $(tr -d '\n\t' < "$o/all_results.json" 2>/dev/null)"
    elif ! no_tmp "$o"; then why="left behind: $(tmp_list "$o")"
    fi
    count_ckpt "$o"
    [ -z "$why" ] && [ "$n_all" -gt "$LIMIT" ] && why="$n_all checkpoints at the end, save_total_limit is $LIMIT"
    if [ -n "$why" ]; then bad "phase kill $k/$PK final:$STEPS ($what): $why"
    else ok "phase kill $k/$PK final:$STEPS ($what, resumed from checkpoint-$c): exit 137, checkpoint-$STEPS the newest, equal to the reference's and loads, no final model yet; --resume from it wrote model.safetensors (bitwise the reference's) and all_results.json (the reference's train_loss and evaluation), $n_all checkpoints, no *.tmp"; fi
}

PK=$PHASE_KILLS
RANDOM=$(( SEED + 7919 ))  # a stream of its own: the random kills above draw a number that depends on timing
out=$W/phases
nfinal=$(( PK / 5 )) nchain=$(( PK - PK / 5 ))  # a fifth are final kills, the rest go to the chain
k=0 rot_pending="" prev_tmp="" pk_final=0
declare -A pk_count=()
t_phase=$(now_ms)
for ((j = 0; j < nchain; j++)); do
    # the final kills but the chain's own come after the chain's last kills but one, on copies of its folder
    if [ "$j" -gt $(( nchain - nfinal )) ]; then
        k=$((k + 1))
        rm -rf "$W/branch" && cp -a "$out" "$W/branch"
        final_kill "$W/branch" "on a copy of the chain after kill $((k - 1))"
        pk_count[final]=$(( ${pk_count[final]:-0} + 1 ))
        rm -rf "$W/branch"
    fi
    k=$((k + 1))
    kind=${KINDS[$(( j % 4 ))]}
    lo=$(( j * STEPS / nchain )) hi=$(( (j + 1) * STEPS / nchain ))
    c=$(newest "$out")
    count_ckpt "$out"; all0=$n_all
    T=""
    [ "$kind" != random ] && pick "$kind" "$lo" "$hi" "$c"
    [ -z "$T" ] && kind=random
    pk_count[$kind]=$(( ${pk_count[$kind]:-0} + 1 ))
    if [ "$kind" = random ]; then
        # at a random moment in the slice: after the run has saved the checkpoint at the slice's start (or
        # has started, when it resumes inside the slice), within the slice's share of the reference's time
        a=$(( lo / SAVE * SAVE )) top=$(( hi < STEPS - SAVE ? hi : STEPS - SAVE ))  # (not so late that the run ends first)
        sig=$(tmp_sig "$out")
        spawn "$out"
        if [ "$a" -le "$c" ]; then
            while kill -0 "$pid" 2>/dev/null && ! grep -q '^pretraining' "$W/run.log"; do sleep 0.002; done
            span=$(( (top - c) * step_ms )) from="the start"
        else
            while kill -0 "$pid" 2>/dev/null && [ ! -f "$out/checkpoint-$a/trainer_state.json" ]; do sleep 0.002; done
            span=$(( (top - a) * step_ms )) from="checkpoint-$a"
        fi
        rand $(( span > 0 ? span : 1 ))
        sleep_ms "$R"
        kill -9 "$pid" 2>/dev/null
        label="random, $R ms after $from"
        reap
        cut=""
        [ -n "$(comm -13 <(echo "$sig" | sort) <(tmp_sig "$out" | sort) | grep .)" ] && cut=", a checkpoint write cut short"
    else
        spawn "$out" "BIGS_TEST_KILL_IN=$kind:$T"; reap
        label="$kind:$T"
    fi
    c2=$(newest "$out"); count_ckpt "$out"; tmps=$(tmp_list "$out")
    case $kind in  # the newest complete checkpoint the kill must leave
    eval | save) want=$(prev_save "$T"); [ "$T" -eq 0 ] && want=0 ;;
    rotate) want=$T ;;
    random) want=$c2 ;;
    esac
    why=""
    if [ "$rc" -eq 0 ] && [ "$kind" = random ]; then why="the run finished before the kill (a machine much faster than the reference run?)"
    elif [ "$rc" -ne 137 ]; then why="exit status $rc, expected 137$([ "$kind" != random ] && echo " (the hook did not fire)"): $(tail_of "$W/run.log")"
    elif grep -q "^pretraining" "$W/run.log" && ! took "$W/run.log" "$out" "$c"; then why="--resume did not take checkpoint-$c: $(grep -m1 -E 'resuming|no checkpoint' "$W/run.log")"
    elif [ "$c2" -ne "$want" ] || [ "$c2" -lt "$c" ]; then why="the newest checkpoint is checkpoint-$c2, expected checkpoint-$want"
    elif ! all_intact "$out"; then :
    # the only unfinished folder allowed is the write after the newest checkpoint: an older one was not cleaned
    elif [ -n "$tmps" ] && [ "$tmps" != "checkpoint-$(next_save "$c2").tmp" ]; then why="left behind: $tmps (the newest checkpoint is checkpoint-$c2)"
    elif [ "$kind" = save ] && [ "$tmps" != "checkpoint-$T.tmp" ]; then why="no checkpoint-$T.tmp: $(ls "$out" | tr '\n' ' ')"
    elif [ "$kind" = save ] && { [ ! -f "$out/checkpoint-$T.tmp/model.safetensors" ] || [ -e "$out/checkpoint-$T.tmp/optimizer.safetensors" ] || [ -e "$out/checkpoint-$T.tmp/trainer_state.json" ]; }; then
        why="checkpoint-$T.tmp should hold the model files only: $(ls "$out/checkpoint-$T.tmp" | tr '\n' ' ')"
    elif [ "$c2" -eq "$c" ] && [ "$n_all" -gt "$all0" ]; then why="no new checkpoint, yet $n_all checkpoint folders where there were $all0"
    # a run that saved rotated each save, unless the kill came between a rename and its rotation
    elif [ "$c2" -gt "$c" ] && [[ $kind =~ ^(eval|save)$ ]] && [ "$n_all" -gt "$LIMIT" ]; then why="$n_all checkpoints kept, save_total_limit is $LIMIT: $(ckpt_names "$out")"
    # (rotate, random: one more, and a folder whose removal a random kill cut short stays until the next save)
    elif [ "$c2" -gt "$c" ] && [ "$n_all" -gt $(( (all0 > LIMIT ? all0 : LIMIT) + 1 )) ]; then
        why="$n_all checkpoint folders, at most $(( (all0 > LIMIT ? all0 : LIMIT) + 1 )) expected: $(ckpt_names "$out")"
    fi
    if [ -n "$why" ]; then bad "phase kill $k/$PK $label (steps $((lo + 1))-$hi, resumed from checkpoint-$c): $why"; [ "$rc" -eq 0 ] && break; continue; fi
    extra=""
    [ -n "$prev_tmp" ] && [ "$prev_tmp" != "$tmps" ] && extra="; the $prev_tmp of the kill before is gone"
    [ "$kind" = save ] && extra+="; checkpoint-$T.tmp holds the model files only"
    [ "$kind" = rotate ] && extra+="; the rotation not run yet"
    [ "$c2" -eq 0 ] && msg="no checkpoint yet" || msg="checkpoint-$c2 is the newest, equal to the reference's and loads"
    ok "phase kill $k/$PK $label${cut:-} (steps $((lo + 1))-$hi, resumed from $([ "$c" -gt 0 ] && echo "checkpoint-$c" || echo "the beginning")): exit 137, $msg; $n_all checkpoints, ${tmps:-no *.tmp}$extra"
    cut=""
    # after a rotate kill: the next run that saves must bring the count back to save_total_limit
    if [ -n "$rot_pending" ] && [ "$c2" -gt "$rot_pending" ] && [[ $kind =~ ^(eval|save)$ ]]; then
        ok "after the rotate kill at step $rot_pending, the resumed run saved again (checkpoint-$c2) and keeps $n_all checkpoints (save_total_limit $LIMIT)"
        rot_pending=""
    fi
    [ "$kind" = rotate ] && rot_pending=$T
    prev_tmp=$tmps
done

# The chain's end. First, on a copy, a kill in the rotation of the last step's checkpoint: the resumed run
# has nothing left to train, and save_total_limit must still hold when it ends.
if [ "$PK" -gt 0 ]; then
    c=$(newest "$out")
    if [ "$c" -lt "$STEPS" ]; then
        rm -rf "$W/branch" && cp -a "$out" "$W/branch"
        count_ckpt "$W/branch"; n0=$(( n_all > LIMIT ? n_all : LIMIT ))  # (one more when a kill before left one)
        spawn "$W/branch" "BIGS_TEST_KILL_IN=rotate:$STEPS"; reap
        r1=$rc c1=$(newest "$W/branch")
        count_ckpt "$W/branch"; n1=$n_all
        pretrain "$W/branch" --resume >"$W/run.log" 2>&1; r2=$?
        count_ckpt "$W/branch"
        if [ "$r1" -ne 137 ] || [ "$c1" -ne "$STEPS" ] || [ "$n1" -gt $((n0 + 1)) ]; then
            bad "rotate kill at the last step ($STEPS, on a copy of the chain at checkpoint-$c): exit status $r1 (expected 137), newest checkpoint-$c1 (expected $STEPS), $n1 checkpoints (at most $((n0 + 1)) expected)"
        elif [ "$r2" -ne 0 ] || ! took "$W/run.log" "$W/branch" "$STEPS" || ! same_as_ref "$W/branch" || ! results_same "$W/branch"; then
            bad "rotate kill at the last step ($STEPS): --resume (exit $r2) did not end with the reference's model and results: $(tail_of "$W/run.log")"
        elif [ "$n_all" -gt "$LIMIT" ]; then
            bad "rotate kill at the last step ($STEPS), then --resume: $n_all checkpoints are left ($(ckpt_names "$W/branch")), save_total_limit is $LIMIT"
        else ok "rotate kill at the last step ($STEPS), then --resume: the reference's model and results, $n_all checkpoints (save_total_limit $LIMIT)"; fi
        rm -rf "$W/branch"
    fi
    # Then the chain itself runs to the end: through the last final kill, else directly.
    if [ "$nfinal" -gt 0 ]; then
        k=$((k + 1))
        final_kill "$out" "the chain's end"
        pk_count[final]=$(( ${pk_count[final]:-0} + 1 ))
    else
        c=$(newest "$out")
        pretrain "$out" --resume >"$W/run.log" 2>&1 || bad "the phase series' last --resume failed: $(tail_of "$W/run.log")"
        took "$W/run.log" "$out" "$c" || bad "the phase series' last --resume did not take checkpoint-$c"
    fi
    count_ckpt "$out"
    why=""
    if ! same_as_ref "$out"; then why="model.safetensors differs from the reference"
    elif ! results_same "$out"; then why="all_results.json lacks train_loss or the evaluation, or differs from the reference's"
    elif ! all_intact "$out"; then :
    elif ! no_tmp "$out"; then why="left behind: $(tmp_list "$out")"
    elif [ "$n_all" -gt "$LIMIT" ] || [ "$n_done" -ne "$n_all" ]; then why="$n_all checkpoint folders ($n_done complete) at the end, save_total_limit is $LIMIT"
    fi
    kinds_done=""
    for kind in "${KINDS[@]}"; do kinds_done+="${kinds_done:+, }$kind ${pk_count[$kind]:-0}"; done
    if [ -n "$why" ]; then bad "after the phase series ($kinds_done): $why"
    else
        [ -n "$rot_pending" ] && ok "after the rotate kill at step $rot_pending, the resumed runs saved again and the run ends with $n_all checkpoints (save_total_limit $LIMIT)"
        ok "phase series: $PK kills in $(( ($(now_ms) - t_phase) / 1000 )) s ($kinds_done; $pk_final resumed from the final checkpoint); the chain ends bitwise equal to the reference (model.safetensors, checkpoint-$(newest "$out") and the one before, all_results.json), $n_all checkpoints, no *.tmp"
    fi
fi

# ---------------------------------------------------------------------------------------------------------
# a full disk while checkpoint-6 is written, on top of checkpoint-3

# full_disk NAME OUT LIMITCMD ERROR_TEXT: OUT holds checkpoint-3; the run under LIMITCMD must fail
# writing checkpoint-6 with ERROR_TEXT, remove its unfinished folder, keep checkpoint-3, and a copy of
# OUT in a roomy folder must resume and end bitwise equal to the reference.
full_disk() {
    local name=$1 o=$2 limit=$3 text=$4 before rc
    before=$(du -sk "$o" | cut -f1)
    (eval "$limit"; exec "$BIGS" pretrain --config "$W/config.json" --data "$W/shards" --output "$o" --threads 1 --resume --quiet) >"$W/disk.log" 2>&1
    rc=$?
    why=""
    if [ "$rc" -ne 1 ]; then why="exit status $rc, expected 1: $(tail_of "$W/disk.log")"
    elif ! grep -q "saving the checkpoint of step 6 failed: $o/checkpoint-6.tmp/[a-z]*.safetensors: cannot write: $text" "$W/disk.log"; then
        why="the message does not name the file and '$text': $(tail_of "$W/disk.log")"
    elif ! no_tmp "$o"; then why="left behind: $(find "$o" -name '*.tmp' | tr '\n' ' ')"
    elif [ -e "$o/checkpoint-6" ] || [ "$(newest "$o")" -ne 3 ]; then why="checkpoint-3 should be the only checkpoint: $(ls "$o" | tr '\n' ' ')"
    elif ! all_intact "$o"; then :
    elif [ $(( $(du -sk "$o" | cut -f1) - before )) -gt 64 ]; then why="the unfinished checkpoint's space was not given back ($before KB before, $(du -sk "$o" | cut -f1) KB after)"
    fi
    if [ -n "$why" ]; then bad "$name: $why"; return; fi
    ok "$name: exit 1, '$(grep -o "checkpoint-6.tmp/[a-z]*.safetensors: cannot write: $text" "$W/disk.log")', no *.tmp left, checkpoint-3 intact"
    rm -rf "$W/roomy" && cp -a "$o" "$W/roomy"
    if pretrain "$W/roomy" --resume >"$W/run.log" 2>&1 && grep -q "resuming from $W/roomy/checkpoint-3 (step 3 of" "$W/run.log" && same_as_ref "$W/roomy"; then
        ok "$name: --resume from checkpoint-3 in a roomy folder ends bitwise equal to the reference"
    else bad "$name: --resume in a roomy folder: $(tail_of "$W/run.log")"; fi
}
start3() {  # a run folder holding checkpoint-3 (stopped as by SIGTERM after step 3)
    BIGS_STOP_AFTER_STEP=3 pretrain "$1" --quiet >"$W/run.log" 2>&1
    [ $? -eq 143 ] && [ "$(newest "$1")" -eq 3 ] || { bad "could not make a run folder with checkpoint-3: $(tail_of "$W/run.log")"; return 1; }
}
# 1. a file-size limit between model.safetensors (4 MB) and optimizer.safetensors (8 MB): the kernel
# refuses the optimizer file (EFBIG, SIGXFSZ being ignored by bigs)
if start3 "$W/fsize"; then
    full_disk "file-size limit (ulimit -f $((MODEL_BYTES * 3 / 2 / 1024)) KB)" "$W/fsize" "ulimit -f $((MODEL_BYTES * 3 / 2 / 1024))" "File too large"
fi
# 2. a tmpfs with room for checkpoint-6's model but not its optimizer moments (ENOSPC); needs mount
if start3 "$W/disk-src"; then
    # room for what is written before optimizer.safetensors (config, model, vocab) and half of that file
    size=$(( $(du -sk "$W/disk-src" | cut -f1) + MODEL_BYTES * 2 / 1024 + 512 ))
    mkdir -p "$W/mnt"
    if mount -t tmpfs -o size=${size}k tmpfs "$W/mnt" 2>"$W/err"; then
        mounted=$W/mnt
        if cp -a "$W/disk-src" "$W/mnt/run"; then full_disk "full tmpfs ($size KB)" "$W/mnt/run" ":" "No space left on device"
        else bad "could not copy the run folder to the ${size} KB tmpfs"; fi
        umount "$W/mnt" && mounted=""
    else echo "skip full tmpfs: mount is not permitted here ($(tail_of "$W/err")); the file-size limit stands in for it"; fi
fi

# ---------------------------------------------------------------------------------------------------------
# a corrupt shard block

shard=$W/shards-bad/train-00000.bin
cp -a "$W/shards" "$W/shards-bad"
le() { od -An --endian=little -t"u$2" -j"$1" -N"$2" "$shard" | tr -d ' '; }  # le OFFSET BYTES
nblocks=$(le 44 4) index=$(le 48 8)
block=$(( r_block % nblocks ))
boff=$(le $((index + 24 * block)) 8) bsize=$(le $((index + 24 * block + 8)) 4)
pos=$((boff + bsize / 2))
for k in 0 1 2 3; do  # four bytes in the middle of the block's compressed data, inverted
    b=$(le $((pos + k)) 1)
    printf "\\$(printf %03o $((b ^ 255)))" | dd of="$shard" bs=1 seek=$((pos + k)) conv=notrunc status=none
done
"$BIGS" pretrain --config "$W/config.json" --data "$W/shards-bad" --output "$W/corrupt" --threads 1 --quiet >"$W/run.log" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q "$shard: block $block is corrupted" "$W/run.log" && [ ! -e "$W/corrupt/model.safetensors" ]; then
    ok "corrupt shard: 4 bytes flipped at offset $pos (block $block of $nblocks): exit 1, '$(grep -o "train-00000.bin: block $block[^.]*" "$W/run.log")'"
else bad "corrupt shard (block $block at offset $pos): exit status $rc: $(tail_of "$W/run.log")"; fi

# ---------------------------------------------------------------------------------------------------------
# a NaN loss

nan=$(( 4 + r_nan % (STEPS - 7) ))  # 4..STEPS-4
last=$(( (nan - 1) / SAVE * SAVE ))  # the last checkpoint before step nan
BIGS_INJECT_NAN_AT_STEP=$nan pretrain "$W/nan" --quiet >"$W/run.log" 2>&1
rc=$?
why=""
if [ "$rc" -ne 1 ]; then why="exit status $rc, expected 1: $(tail_of "$W/run.log")"
elif ! grep -q "step $nan: the loss is not finite" "$W/run.log"; then why="the message does not name step $nan: $(tail_of "$W/run.log")"
elif [ "$(newest "$W/nan")" -ne "$last" ]; then why="the newest checkpoint is checkpoint-$(newest "$W/nan"), expected checkpoint-$last"
elif ! no_tmp "$W/nan" || [ -e "$W/nan/model.safetensors" ]; then why="a *.tmp or a final model was written"
elif ! all_intact "$W/nan"; then :
fi
if [ -n "$why" ]; then bad "NaN at step $nan: $why"
else
    ok "NaN at step $nan: exit 1, '$(grep -o "step $nan: the loss is not finite[^;]*" "$W/run.log")', checkpoint-$last intact"
    if pretrain "$W/nan" --resume >"$W/run.log" 2>&1 && grep -q "resuming from $W/nan/checkpoint-$last (step $last of" "$W/run.log" && same_as_ref "$W/nan"; then
        ok "NaN at step $nan: --resume from checkpoint-$last ends bitwise equal to the reference"
    else bad "NaN at step $nan: --resume: $(tail_of "$W/run.log")"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
