#!/usr/bin/env bash
# Runs a benchmark from dist/bench (built by npm ci / npm run build). Starts a throwaway
# PostgreSQL 15 for it unless DATABASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DATABASE_URL:-}" ]; then
  # shellcheck source=scripts/start-postgres.sh
  source scripts/start-postgres.sh
fi
node "dist/bench/$1.js"
