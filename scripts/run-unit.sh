#!/usr/bin/env bash
# Runs every cmocka unit test binary given; fails if any fails.
set -u
fail=0; passed=0; failed=0
for t in "$@"; do
    if "$t"; then passed=$((passed+1)); else failed=$((failed+1)); fail=1; echo "FAILED: $t" >&2; fi
done
echo "unit test binaries: $passed passed, $failed failed"
exit $fail
