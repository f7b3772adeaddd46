#!/usr/bin/env bash
# Runs the whole suite. Starts a throwaway PostgreSQL 15 server unless DATABASE_URL is set, so
# the destination tests always run against a real server (they never skip).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DATABASE_URL:-}" ]; then
  # shellcheck source=scripts/start-postgres.sh
  source scripts/start-postgres.sh
fi

files=$(find test -name '*.test.ts' | sort)
if [ "$#" -gt 0 ]; then files="$*"; fi
# shellcheck disable=SC2086
node --import tsx --test --test-reporter=spec --test-concurrency=2 $files
