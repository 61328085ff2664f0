#!/usr/bin/env bash
# Runs every cmocka unit test binary given; fails if any fails, or if any
# test was skipped (the unit tests have no optional parts; the skipped ones
# are listed).
set -u
fail=0; passed=0; failed=0; skipped=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$@"; do
    if "$t" 2>&1 | tee "$out"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
        passed=$((passed+1))
    else
        failed=$((failed+1)); fail=1; echo "FAILED: $t" >&2
    fi
    while read -r name; do
        [ -n "$name" ] && skipped+=("$(basename "$t"): $name")
    done < <(sed -n 's/^\[  SKIPPED \] \([^ ]*\)$/\1/p' "$out" | sort -u)
done
if [ ${#skipped[@]} -gt 0 ]; then
    echo "skipped unit tests fail the run:" >&2
    printf '  %s\n' "${skipped[@]}" >&2
    fail=1
fi
echo "unit test binaries: $passed passed, $failed failed"
exit $fail
