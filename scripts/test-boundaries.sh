#!/usr/bin/env bash
# Runs the time-sensitive suites as if it were each of a few boundary
# instants (TEST_NOW), so no test depends on the date it happens to run.
# Under the test seams the Worker's own work (a port gate's alarm: hold
# expiries, an alert resolved at its period's end, deliveries) runs on a
# clock that keeps moving from the last request's instant, so an instant
# just before an end makes that period end while the tests run:
#   2027-03-01T00:00:00.004Z  the first milliseconds of a month that begins
#                             on a Monday (the day, the week and the month
#                             all turned at once);
#   2027-03-14T23:59:59.900Z  100 ms before a Sunday's end: the day and the
#                             week end, the month goes on;
#   2028-02-29T23:59:59.900Z  Feb 29 of a leap year, 100 ms before its end:
#                             the day and the month end (a Tuesday: the week
#                             goes on);
#   2027-12-31T23:59:58.000Z  2 s before a year's end (a Friday): a hold of
#                             a second expires before midnight, two seconds
#                             on is the next day, month and year;
#   2028-12-31T23:59:59.900Z  100 ms before a Sunday that ends a day, a week,
#                             a month and a year at once.
# Usage: scripts/test-boundaries.sh [INSTANT ...]   (default: the list above)
#        scripts/test-boundaries.sh --list          (prints the list)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

boundaries=(
  2027-03-01T00:00:00.004Z
  2027-03-14T23:59:59.900Z
  2028-02-29T23:59:59.900Z
  2027-12-31T23:59:58.000Z
  2028-12-31T23:59:59.900Z
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
  # The package and the Worker were just built (test-admin.sh builds both).
  "$ROOT/scripts/test-client.sh" --no-build
done
