#!/usr/bin/env bash
# Hostile load on the release binary (docs/BENCHMARKS.md): FLOOD_CONNS concurrent senders of ~3 MiB
# admission bodies (each read and parsed in full unless refused) plus a steady RATE/s of valid
# reviews for DURATION s. Reports the valid reviews' errors, the flood's answers by status, the
# server's peak RSS against the Deployment's memory limit, and whether it stayed up. Run once with
# the default budget and once with the budget lifted (BUDGET=off) to see what it prevents.
# Loopback only; bounded in time.
# ATTACK picks the attack (docs/BENCHMARKS.md, "Hostile load"); the attacker runs from 127.0.0.2, pinned
# to one core with taskset (so its figure is not the CPU share), the valid reviews from 127.0.0.1:
#   string          ~3 MiB bodies of one long string (the byte budget's case; the default)
#   containers      ~3 MiB of "containers":[{},{},...]   env   ~3 MiB of one-key env entries
#   initContainers  ~3 MiB of "initContainers":[{},...] (no list cap: the node limit)
#   idle            FLOOD_CONNS TLS connections opened, silent, re-opened as they are closed
# BIN=path measures another build (an earlier commit's release binary: before/after); SKIP_BUILD=1
# uses the binaries already built.
#   bash scripts/bench-hostile.sh                 # defaults: 64 senders, 200/s, 30 s
#   ATTACK=containers FLOOD_CONNS=8 bash scripts/bench-hostile.sh
#   ATTACK=idle FLOOD_CONNS=5000 bash scripts/bench-hostile.sh
#   BUDGET=off bash scripts/bench-hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30}
RATE=${RATE:-200}
FLOOD_CONNS=${FLOOD_CONNS:-64}
LIMIT_MIB=${LIMIT_MIB:-128} # deploy/ and the chart: resources.limits.memory

ATTACK=${ATTACK:-string}
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --release --locked --bin kafka-advertiser --example loadgen >&2
BIN=${BIN:-target/release/kafka-advertiser}
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
# As shipped: no environment variables (the binary sets its allocator's options itself).
$BIN serve --standalone --tls-cert-dir "$work/certs" --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" \
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
taskset -c "$(($(nproc) - 1))" python3 - "$PORT" "$work/certs/ca.crt" "$DURATION" "$FLOOD_CONNS" "$ATTACK" >"$work/flood" <<'PY' &
import collections, socket, ssl, sys, threading, time
port, ca, duration, conns, attack = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["http/1.1"])
# ~3 MiB of valid JSON, under the 3 MiB body limit.
size = 3 * 1024 * 1024 - 4096
def pod(spec, meta=''):
    return ('{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"",'
            '"version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"ns","object":{"metadata":{"name":"kafka-0",'
            '"labels":{"kafka-advertiser.io/enabled":"true"}' + meta + '},"spec":{' + spec + '}}}}').encode()
if attack == "string":
    body = pod('', ',"annotations":{"junk":"' + "x" * size + '"}')
elif attack in ("containers", "initContainers"):
    body = pod('"' + attack + '":[' + ",".join(["{}"] * (size // 3)) + ']')
elif attack == "env":
    body = pod('"containers":[{"name":"kafka","env":[' + ",".join(['{"name":"A"}'] * (size // 13)) + ']}]')
head = (f"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) if attack != 'idle' else 0}\r\nConnection: close\r\n\r\n").encode()
counts, lock, end = collections.Counter(), threading.Lock(), time.time() + duration
def connect():
    raw = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=("127.0.0.2", 0))
    return ctx.wrap_socket(raw, server_hostname="localhost")
def sender():
    while time.time() < end:
        try:
            with connect() as s:
                s.sendall(head + body)
                status = s.recv(64).split(b" ")[1].decode()
        except Exception as e:
            status = type(e).__name__
        with lock:
            counts[status] += 1
def idler():
    # Hold a silent connection; when the server closes it, open another.
    while time.time() < end:
        try:
            s = connect()
            with lock:
                counts["opened"] += 1
            s.settimeout(max(0.1, end - time.time()))
            try:
                s.recv(1)
                with lock:
                    counts["closed_by_server"] += 1
            except socket.timeout:
                pass
            s.close()
        except Exception as e:
            with lock:
                counts[type(e).__name__] += 1
            time.sleep(0.05)
if attack == "idle":
    threads = [threading.Thread(target=idler) for _ in range(conns)]
else:
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
echo "binary: $BIN; budget: ${BUDGET:-on}; attack: $ATTACK from 127.0.0.2 x $FLOOD_CONNS (one core), $RATE/s valid reviews (h2), ${DURATION} s"
echo "valid reviews: $(field "$valid" requests) sent, $(field "$valid" errors) not answered 200, p99 $(field "$valid" p99_us) µs"
echo "flood answers by status: $(cat "$work/flood")"
echo "server peak RSS: sampled $(( $(cat "$work/rss" | tail -1) / 1024 )) MiB, VmHWM $((hwm / 1024)) MiB (limit ${LIMIT_MIB} MiB); still running: $alive"
echo "machine: $(nproc) cores, $(date -u +%F)"
