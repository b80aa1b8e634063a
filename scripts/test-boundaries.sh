#!/usr/bin/env bash
# Runs the time-sensitive suites as if it were each of a few boundary
# instants (TEST_NOW), so no test depends on the date it happens to run:
#   - the first milliseconds of a month that begins on a Monday (the day,
#     the week and the month all turn at once);
#   - the last second of a year;
#   - Feb 29 of a leap year;
#   - late on a Sunday (a week about to turn).
# Usage: scripts/test-boundaries.sh [INSTANT ...]   (default: the list above)
#        scripts/test-boundaries.sh --list          (prints the list)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

boundaries=(
  2027-03-01T00:00:00.004Z
  2026-12-31T23:59:59.000Z
  2028-02-29T12:00:00.000Z
  2027-03-14T23:59:30.000Z
)
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${boundaries[@]}"
  exit 0
fi
instants=("$@")
[ ${#instants[@]} -gt 0 ] || instants=("${boundaries[@]}")

for instant in "${instants[@]}"; do
  printf '\n== boundaries: TEST_NOW=%s\n' "$instant"
  export TEST_NOW="$instant"
  cargo test --quiet --test decision --test status
  "$ROOT/scripts/test-worker.sh"
  "$ROOT/scripts/test-gateway.sh"
  "$ROOT/scripts/test-admin.sh"
done
