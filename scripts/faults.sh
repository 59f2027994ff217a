#!/usr/bin/env bash
# Runs the fault tests (test/faults and test/cluster) against this machine's PostgreSQL and Redis,
# with HAProxy from Debian's package in front of the nodes. Sizes: FAULTS_CLIENTS, FAULTS_CHANNELS,
# FAULTS_RATE (posts a second), FAULTS_REDIS_OUTAGE_MS, FAULTS_POSTGRES_OUTAGE_MS.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v haproxy >/dev/null; then
  echo "HAProxy is missing; installing Debian's package"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
fi

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
exec npx vitest run --config vitest.faults.config.ts "$@"
