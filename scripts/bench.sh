#!/usr/bin/env bash
# Load benchmark: kafka-advertiser `serve --standalone` vs the null-webhook floor, same stack,
# same machine, same run. Loopback only. Prints a Markdown table (paste into docs/BENCHMARKS.md).
#   bash scripts/bench.sh            # full: 10 s per scenario
#   DURATION=3 bash scripts/bench.sh # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
RATE=${RATE:-2000}

cargo build --release --locked --bin kafka-advertiser --example null_webhook --example loadgen >&2
BIN=target/release/kafka-advertiser
NULL=target/release/examples/null_webhook
LOAD=target/release/examples/loadgen
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

$BIN certs --out "$work/certs" --host localhost --host 127.0.0.1 >&2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

start_ours() {
  local port=$1 admin=$2
  local t0; t0=$(now_ms)
  $BIN serve --standalone --tls-cert-dir "$work/certs" --listen "127.0.0.1:$port" \
    --admin-listen "127.0.0.1:$admin" --log-level warn 2>"$work/ours.log" &
  pids+=($!); OURS_PID=$!
  until curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null; do sleep 0.001; done
  READY_MS=$(( $(now_ms) - t0 ))
}
start_floor() {
  local port=$1
  $NULL "$work/certs" "127.0.0.1:$port" 2>"$work/floor.log" &
  pids+=($!); FLOOR_PID=$!
  until (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.01; done
}
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

run() { # name url extra...
  local url=$1; shift
  $LOAD --url "$url" --ca "$work/certs/ca.crt" --duration "$DURATION" "$@"
}
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

P1=$(free_port); A1=$(free_port); P2=$(free_port)
start_ours "$P1" "$A1"
start_floor "$P2"
OURS="https://localhost:$P1/mutate"; FLOOR="https://localhost:$P2/mutate"
# Warm both (first connections, page faults).
run "$OURS" --h2 --connections 2 --rate 500 --duration 1 >/dev/null
run "$FLOOR" --h2 --connections 2 --rate 500 --duration 1 >/dev/null

echo "| scenario | metric | kafka-advertiser | floor | ratio |"
echo "|---|---|---|---|---|"
row() { # scenario metric ours floor
  python3 - "$@" <<'PY'
import sys
s, m, o, f = sys.argv[1:5]
o, f = float(o), float(f)
print(f"| {s} | {m} | {o:g} | {f:g} | {o/f:.2f} |" if f else f"| {s} | {m} | {o:g} | {f:g} | - |")
PY
}
median() { python3 -c "import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
ROUNDS=${ROUNDS:-3}
for proto in h2 h1; do
  # Fixed rate: this VM's tail latency is noisy, so ours and the floor alternate, ROUNDS times, and
  # each figure is the median of the rounds.
  declare -A O F
  for m in p50_us p99_us p999_us max_us errors; do O[$m]=""; F[$m]=""; done
  for r in $(seq "$ROUNDS"); do
    o=$(run "$OURS" --$proto --connections 4 --rate "$RATE")
    f=$(run "$FLOOR" --$proto --connections 4 --rate "$RATE")
    for m in p50_us p99_us p999_us max_us errors; do
      O[$m]="${O[$m]} $(field "$o" $m)"; F[$m]="${F[$m]} $(field "$f" $m)"
    done
  done
  for m in p50_us p99_us p999_us max_us errors; do
    row "$proto fixed ${RATE}/s, 4 conns (median of $ROUNDS)" "$m" "$(median ${O[$m]})" "$(median ${F[$m]})"
  done
  if [ "$proto" = h2 ]; then sat="--connections 16 --streams 16"; else sat="--connections 64"; fi
  o=$(run "$OURS" --$proto $sat)
  f=$(run "$FLOOR" --$proto $sat)
  row "$proto saturation ($sat)" "req/s" "$(field "$o" rps)" "$(field "$f" rps)"
  row "$proto saturation ($sat)" "errors" "$(field "$o" errors)" "$(field "$f" errors)"
  row "$proto saturation ($sat)" "p99_us" "$(field "$o" p99_us)" "$(field "$f" p99_us)"
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
c0=$(cpu "$OURS_PID"); o=$(run "$OURS" --h2 --connections 16 --streams 16 --duration 5); c1=$(cpu "$OURS_PID")
d0=$(cpu "$FLOOR_PID"); f=$(run "$FLOOR" --h2 --connections 16 --streams 16 --duration 5); d1=$(cpu "$FLOOR_PID")
tick=$(getconf CLK_TCK)
row "server CPU per request, h2 saturated" "µs" \
  "$(python3 -c "print(round(($c1-$c0)*1e6/$tick/$(field "$o" requests),1))")" \
  "$(python3 -c "print(round(($d1-$d0)*1e6/$tick/$(field "$f" requests),1))")"
row "whole run" "peak RSS (MiB)" "$(( $(hwm_kib "$OURS_PID") / 1024 ))" "$(( $(hwm_kib "$FLOOR_PID") / 1024 ))"
echo
echo "serve --standalone ready (/readyz 200) after ${READY_MS} ms"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), duration ${DURATION}s per scenario"
