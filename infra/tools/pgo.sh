#!/usr/bin/env bash
# make pgo: CPU profiles of the three services under load at concurrency 32,
# written as each service's default.pgo, which `go build` (and Cloud Run's
# buildpack) uses for profile-guided optimization. Runs as devstack bench's
# command: the services' URLs come in BENCH_*_URL, and PPROF=1 serves
# /debug/pprof/profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/sagaload" ./infra/cmd/sagaload
# Enough orders to outlast the profiles; stopped once they are taken.
"$out/sagaload" -order "$BENCH_ORDER_URL" -point "$BENCH_POINT_URL" -ticket "$BENCH_TICKET_URL" \
  -orders 20000 -concurrency 32 -users 200 -balance 100000000 -stock 1000000 -tickets 3 -max-quantity 1 \
  -quiet 1s >"$out/load.log" 2>&1 &
load=$!
sleep "${PGO_WARMUP:-12}"
pids=()
for svc in order point ticket; do
  var="BENCH_$(echo "$svc" | tr a-z A-Z)_URL"
  curl -sf "${!var}/debug/pprof/profile?seconds=${PGO_SECONDS:-30}" -o "$out/$svc.pprof" &
  pids+=($!)
done
wait "${pids[@]}"
kill "$load" 2>/dev/null || true
for svc in order point ticket; do
  [ -s "$out/$svc.pprof" ] || { echo "pgo: no profile from $svc-service" >&2; exit 1; }
  cp "$out/$svc.pprof" "$svc-service/default.pgo"
  echo "pgo: wrote $svc-service/default.pgo"
done
