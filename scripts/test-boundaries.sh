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

# ---------------------------------------------------------------------------
# What runs again at each instant: only the test files whose outcome depends
# on the date. The full suites run once at their own default instants
# (scripts/test.sh); the files below run again at every instant above.
#
# A file is here when an expectation it checks is computed from the instant,
# so that another instant checks something else: a reset instant or a
# Retry-After to a period's end, a period's start (status per period kind,
# the daily chart, alert events), rows seeded relative to the instant, or a
# request that crosses into the next period. A file whose requests all run
# at the suite's instant and whose checks are counts, amounts, refusals and
# wire formats runs once: the same instant for every request gives it the
# same answers at any date. Every test file of tests/worker, tests/gateway
# and tests/admin must be in exactly one of the two lists: a new file fails
# this script until it is placed (and said why).
#   scripts/test-boundaries.sh --files   prints the files that run again

# Native Rust tests (`cargo test --test NAME`) that read TEST_NOW (tests/common).
rust_again=(
  decision         # the pre-flight decision and its reset at the instant
  status           # cap status and its reset at the instant
  gate             # the port gate: holds, expiry, late commits and counters per period from the instant
  gate_caps        # feature and user caps counted per period, and their reset
  gate_money       # dollars held and counted per period, delivered to D1's rollup
  ledger           # D1's rollup rows keyed by the periods' starts
  ledger_refusals  # set-aside rows and the rollup of the periods around the instant
  alerts           # crossings raised once per period, resolved by a new period
  gate_credits     # credits across days, a raise's end, a day's rollover recorded once
  gate_money_exact # exact money totals of the periods a write lands in, late commits into an expired hold's day
  gate_calendar    # a calendar change at the instant keeps the UTC day and hands over at its end
  group_alerts     # a group's crossings raised once per period, resolved by the next period from the instant
  gate_shards      # what a port's shards consumed weighs in the day of the instant, not the next; the counts kept a day
)
# Read TEST_NOW too, but run once:
#   gate_model, alerts_model: seeded random walks that cross days, weeks and
#     months on their own from their start (and take 15 to 20 s a run);
#   credits_model: a random walk that crosses days on its own from its start;
#   simulation: a seeded walk whose simulated clock starts at its own
#     instant and crosses days on its own.

again=(
  tests/worker/api.test.mjs         # Retry-After and X-Budget-Reset to the day's end; a backfill lands in its own period; status per period kind
  tests/worker/alerts.test.mjs      # events carry periodStart and resetsAt; a call the next day resolves the last period's crossings
  tests/worker/caps.test.mjs        # the package's evaluateCaps against the Worker's resetsAt for a weekly budget
  tests/worker/guarantees.test.mjs  # holds across midnight, late commits into the row's own day/week/month, first-start import of the current periods, the 400-day cron
  tests/worker/credits.test.mjs     # a day's rollover recorded by the alarm at the day's end; credits and raises expiring around the instant
  tests/worker/parity.test.mjs      # rows seeded today, yesterday and last month around the instant; the package and the Worker agree on them
  tests/gateway/sdk.test.mjs        # X-Budget-Reset after the instant, on the gateway's answers
  tests/gateway/gate.test.mjs       # the gateway's own 429 carries a Retry-After to the period's end, past zero at any instant
  tests/gateway/caps.test.mjs       # the same for a user's cap refused in the SDK's format
  tests/gateway/cap-actions.test.mjs  # a throttle's Retry-After to the next minute, and another minute of the instant's month
  tests/gateway/feature-actions.test.mjs  # a feature's throttle and its Retry-After to the next minute, within the instant's month
  tests/admin/admin.test.mjs        # the page's clock: resets, the daily chart of the period, the preview's reset per period
  tests/admin/calendars.test.mjs    # the preview's local resets in five zones against the Worker's, at the page's clock
)

once=(
  tests/worker/groups.test.mjs          # a group's cap across its ports within one period at the suite's instant; the return delay moves x-now by seconds
  tests/worker/bad-input.test.mjs       # input refused before any period is computed
  tests/worker/metrics.test.mjs         # runs at its own instant (ten days into April 2027), not the suite's
  tests/worker/forecast.test.mjs        # runs at its own instant (ten days into April 2027), not the suite's
  tests/worker/money.test.mjs           # amounts in dollars at the suite's instant; refusals (no Retry-After value checked)
  tests/worker/openapi.test.mjs         # the OpenAPI document and the router
  tests/worker/shards.test.mjs          # a hot port's cap across its shards within one period at the suite's instant; no period figure checked
  tests/worker/probe.test.mjs           # amounts past the exact range: refused before any period figure
  tests/worker/large-bodies.test.mjs    # bodies drained before an early answer: no period involved
  tests/worker/keys.test.mjs            # port keys remembered and revoked: who may call, no period figure checked
  tests/admin/credits.test.mjs          # a grant and a raise a week on previewed and saved at the suite's instant: no period figure
  tests/gateway/admin-token.test.mjs    # the admin token read the same at the API and the gateway
  tests/gateway/alerts.test.mjs         # one crossing, one log line, one delivery: no period figure checked
  tests/gateway/concurrency.test.mjs    # concurrent streams against a cap: counts at the suite's instant
  tests/gateway/failures.test.mjs       # upstream failures charged by the rule: counts at the suite's instant
  tests/gateway/gemini.test.mjs         # Gemini's API relayed and counted from usageMetadata: counts, the 429's body (no Retry-After value checked)
  tests/gateway/money.test.mjs          # a call's cost from the price table
  tests/gateway/port-settings.test.mjs  # a port's output bound, model list and strict mode
  tests/gateway/probe.test.mjs          # amounts past the exact range: 409 before anything is held
  tests/gateway/providers.test.mjs      # the provider table's routes, dialects and keys
  tests/gateway/responses.test.mjs      # the Responses API relayed and counted from its usage
  tests/gateway/telemetry.test.mjs      # each call's log line: names and amounts, no period figure
  tests/gateway/work.test.mjs           # the work a call causes, counted: no period figure
  tests/admin/alerts.test.mjs           # thresholds, webhooks and deliveries on the page
  tests/admin/caps.test.mjs             # caps shown, previewed and saved: counts, no reset
  tests/admin/gateway.test.mjs          # gateway settings shown and saved: no period figure
  tests/admin/groups.test.mjs           # groups shown, a cap change previewed and saved: counts, no reset
  tests/admin/forecast.test.mjs         # runs at its own instant (ten days into April 2027), not the suite's
  tests/admin/money.test.mjs            # dollars shown and previewed: amounts, no reset
  tests/worker/calendars.test.mjs       # port calendars at fixed instants of their own (x-now), around clock changes
  tests/worker/roles.test.mjs           # roles and scopes; key expiry and rotation overlaps relative to the instant, no period figure
  tests/worker/audit.test.mjs           # records at the instant and days before it; pruning by age, no period figure
  tests/admin/history.test.mjs          # a port's changes listed at the suite's instant: no period figure
)

# Each test file in exactly one list, and each listed file there.
classify_errors=0
for f in tests/worker/*.test.mjs tests/gateway/*.test.mjs tests/admin/*.test.mjs; do
  n=0
  for g in "${again[@]}" "${once[@]}"; do [ "$f" = "$g" ] && n=$((n + 1)); done
  if [ "$n" != 1 ]; then
    echo "test-boundaries: $f is in $n of the lists in scripts/test-boundaries.sh (again, once): put it in one, with why" >&2
    classify_errors=1
  fi
done
for f in "${again[@]}" "${once[@]}"; do
  [ -f "$f" ] || { echo "test-boundaries: $f is listed but does not exist" >&2; classify_errors=1; }
done
for t in "${rust_again[@]}"; do
  [ -f "tests/$t.rs" ] || { echo "test-boundaries: tests/$t.rs is listed but does not exist" >&2; classify_errors=1; }
done
[ "$classify_errors" = 0 ] || exit 1

if [ "${1:-}" = "--files" ]; then
  printf '%s\n' "${rust_again[@]/#/tests/}" | sed 's/$/.rs/'
  printf '%s\n' "${again[@]}"
  exit 0
fi

only() { # the files of one folder among "again"
  local f
  for f in "${again[@]}"; do case "$f" in "$1"/*) echo "$f" ;; esac; done
}
mapfile -t worker_files < <(only tests/worker)
mapfile -t gateway_files < <(only tests/gateway)
mapfile -t admin_files < <(only tests/admin)
rust_args=()
for t in "${rust_again[@]}"; do rust_args+=(--test "$t"); done

for instant in "${instants[@]}"; do
  printf '\n== boundaries: TEST_NOW=%s\n' "$instant"
  export TEST_NOW="$instant"
  cargo test --quiet "${rust_args[@]}" ${TEST_PATTERN:+"$TEST_PATTERN"}
  "$ROOT/scripts/test-worker.sh" "${worker_files[@]}"
  "$ROOT/scripts/test-gateway.sh" "${gateway_files[@]}"
  "$ROOT/scripts/test-admin.sh" "${admin_files[@]}"
  # The client's answers carry the periods of the instant (every answer is
  # checked against the OpenAPI document); the package and the Worker are
  # built already.
  "$ROOT/scripts/test-client.sh" --no-build
done
