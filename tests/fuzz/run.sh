#!/usr/bin/env bash
# run.sh NAME...: runs each libFuzzer harness build-fuzz/fuzz_NAME for FUZZ_TIME seconds (default 60),
# one at a time under nice, and prints one line per harness with its execution count. New inputs go
# to a scratch directory (build-fuzz/corpus/NAME); the committed seeds in tests/fuzz/corpus/NAME are
# only read. A finding is saved as build-fuzz/artifacts/NAME-crash-* (or leak-, oom-, timeout-) and
# makes the exit status non-zero. FUZZ_RUNS=N runs N executions instead of a time limit.
set -u
cd "$(dirname "$0")/../.."
time_s=${FUZZ_TIME:-60}
fail=0
summary=()
for name in "$@"; do
    case $name in  # inputs larger than a realistic file of each kind teach nothing more
        tokenizer) max_len=4096 ;;
        config|glue|scrolls|vocab) max_len=16384 ;;
        *) max_len=65536 ;;
    esac
    scratch=build-fuzz/corpus/$name
    mkdir -p "$scratch" build-fuzz/artifacts build-fuzz/logs
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    limit=(-max_total_time="$time_s") what="$time_s s"
    [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS") what="$FUZZ_RUNS runs"
    log=build-fuzz/logs/$name.log
    echo "== fuzz_$name ($what, max_len $max_len)"
    start=$(date +%s)
    nice -n 10 "build-fuzz/fuzz_$name" "${limit[@]}" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$name-" "${dict[@]}" \
        "$scratch" "tests/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -eq 0 ]; then result=ok; else result="FINDING (exit $rc, see $log)"; fail=1; tail -40 "$log"; fi
    summary+=("$(printf 'fuzz_%-12s %12s execs %6s s  %s' "$name" "${runs:-?}" "$secs" "$result")")
done
echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit $fail
