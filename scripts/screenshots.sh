#!/usr/bin/env bash
# Refreshes the README's screenshots (docs/screenshots/*.png): runs the admin
# page's suite, which takes them, writing into docs/ instead of target/, at a
# fixed instant so the pictures show the same dates on every refresh.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
SCREENSHOTS_DIR="$ROOT/docs/screenshots" TEST_NOW="${TEST_NOW:-2026-11-18T15:00:00.000Z}" \
  "$ROOT/scripts/test-admin.sh"
