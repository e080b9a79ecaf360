#!/usr/bin/env bash
# Hostile load on the release binary (docs/BENCHMARKS.md): FLOOD_CONNS concurrent senders of ~3 MiB
# admission bodies (each read and parsed in full unless refused) plus a steady RATE/s of valid
# reviews for DURATION s. Reports the valid reviews' errors, the flood's answers by status, the
# server's peak RSS against the Deployment's memory limit, and whether it stayed up. Run once with
# the default budget and once with the budget lifted (BUDGET=off) to see what it prevents.
# Loopback only; bounded in time.
#   bash scripts/bench-hostile.sh                 # defaults: 64 senders, 200/s, 30 s
#   BUDGET=off bash scripts/bench-hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30}
RATE=${RATE:-200}
FLOOD_CONNS=${FLOOD_CONNS:-64}
LIMIT_MIB=${LIMIT_MIB:-128} # deploy/ and the chart: resources.limits.memory

cargo build --release --locked --bin kafka-advertiser --example loadgen >&2
BIN=target/release/kafka-advertiser
LOAD=target/release/examples/loadgen
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
$BIN certs --out "$work/certs" --host localhost --host 127.0.0.1 >&2
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port); ADMIN=$(free_port)
extra=()
if [ "${BUDGET:-on}" = off ]; then extra=(--max-inflight-bytes 17179869184 --max-concurrent-reviews 1000000); fi
# As deploy/ and the chart run it (mimalloc returns freed memory at once).
MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-0} $BIN serve --standalone --tls-cert-dir "$work/certs" --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" \
  --log-level error "${extra[@]}" 2>"$work/serve.log" &
pids+=($!); SERVER=$!
until curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null; do sleep 0.05; done

# RSS sampler (every 50 ms) and the flood, both stopped by time.
python3 - "$SERVER" "$DURATION" >"$work/rss" <<'PY' &
import sys, time
pid, end = sys.argv[1], time.time() + float(sys.argv[2]) + 2
peak = 0
while time.time() < end:
    try:
        for l in open(f"/proc/{pid}/status"):
            if l.startswith("VmRSS:"):
                peak = max(peak, int(l.split()[1]))
    except FileNotFoundError:
        print("gone"); break
    time.sleep(0.05)
print(peak)
PY
pids+=($!); SAMPLER=$!
python3 - "$PORT" "$work/certs/ca.crt" "$DURATION" "$FLOOD_CONNS" >"$work/flood" <<'PY' &
import collections, socket, ssl, sys, threading, time
port, ca, duration, conns = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca)
# ~3 MiB of valid JSON, under the 3 MiB body limit: read and parsed in full when admitted.
filler = "x" * (3 * 1024 * 1024 - 4096)
body = ('{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"",'
        '"version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"ns","object":{"metadata":{"name":"p-0",'
        '"labels":{"kafka-advertiser.io/enabled":"true"},"annotations":{"junk":"' + filler + '"}}}}}').encode()
head = (f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
counts, lock, end = collections.Counter(), threading.Lock(), time.time() + duration
def sender():
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(head + body)
                    status = s.recv(64).split(b" ")[1].decode()
        except Exception as e:
            status = type(e).__name__
        with lock:
            counts[status] += 1
threads = [threading.Thread(target=sender) for _ in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
PY
pids+=($!); FLOOD=$!
sleep 1
valid=$($LOAD --url "https://localhost:$PORT/mutate" --ca "$work/certs/ca.crt" --h2 --connections 2 \
  --rate "$RATE" --duration "$((DURATION - 2))")
wait "$FLOOD" || true
wait "$SAMPLER" || true
alive=no; kill -0 "$SERVER" 2>/dev/null && alive=yes
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status" 2>/dev/null || echo 0)
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
echo "budget: ${BUDGET:-on}; $FLOOD_CONNS flood senders of ~3 MiB bodies, $RATE/s valid reviews (h2), ${DURATION} s"
echo "valid reviews: $(field "$valid" requests) sent, $(field "$valid" errors) not answered 200, p99 $(field "$valid" p99_us) µs"
echo "flood answers by status: $(cat "$work/flood")"
echo "server peak RSS: sampled $(( $(cat "$work/rss" | tail -1) / 1024 )) MiB, VmHWM $((hwm / 1024)) MiB (limit ${LIMIT_MIB} MiB); still running: $alive"
echo "machine: $(nproc) cores, $(date -u +%F)"
