#!/bin/sh
# Runs each libFuzzer target given for FUZZ_SECONDS (default 60), one after
# the other, over its corpus tests/fuzz/corpus/<target>/ (created from the
# seeds if missing), then merges what the run found into that corpus with
# -merge=1 (only inputs that add coverage), so a commit keeps them.
# A crash stops the run (the input is in $BUILD/crash-<target>-*); a summary
# line per target goes to stdout and $BUILD/fuzz-summary.txt.
#
# FUZZ_SECONDS_<target> (e.g. FUZZ_SECONDS_fuzz_rest=1200) overrides the
# budget of one target.
#
#   BUILD=build-fuzz FUZZ_SECONDS=600 tests/fuzz/run.sh fuzz_rest fuzz_cursor
set -eu
BUILD=${BUILD:-build-fuzz}
SECS=${FUZZ_SECONDS:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
SUMMARY=$BUILD/fuzz-summary.txt
: > "$SUMMARY"
status=0
for t in "$@"; do
    corpus=$HERE/corpus/$t
    secs=$(eval "echo \${FUZZ_SECONDS_$t:-$SECS}")
    new=$BUILD/new/$t
    log=$BUILD/$t.log
    mkdir -p "$corpus" "$new"
    case $t in
        fuzz_cursor) maxlen=256 ;;
        fuzz_basic_auth) maxlen=1024 ;;
        *) maxlen=8192 ;;
    esac
    dict=
    [ -f "$HERE/$t.dict" ] && dict=-dict=$HERE/$t.dict
    echo "== $t: ${secs}s over $(ls "$corpus" | wc -l) corpus inputs"
    rc=0
    # new finds go to $new (the first directory); the committed corpus is read too
    # UBSan's findings are crashes too (the fuzz build does not make them fatal itself)
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    "$BUILD/$t" -max_total_time="$secs" -max_len=$maxlen -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$BUILD/crash-$t-" $dict "$new" "$corpus" > "$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    crashes=$(ls "$BUILD" | grep -c "^crash-$t-" || true)
    if [ "$rc" -eq 0 ]; then
        "$BUILD/$t" -merge=1 -max_len=$maxlen "$corpus" "$new" >> "$log" 2>&1
        rm -rf "$new"
    else
        status=1
        tail -n 60 "$log"
    fi
    line="$t seconds=$secs executions=${execs:-?} exit=$rc crash_files=$crashes corpus=$(ls "$corpus" | wc -l)"
    echo "$line" | tee -a "$SUMMARY"
    # a crash fails the run, but the other targets still run
done
exit $status
