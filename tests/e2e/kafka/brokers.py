"""A small Kafka-protocol broker cluster for the e2e round trip.

One process serves several brokers, each on its own loopback port. Each broker advertises, in its
Metadata responses, exactly the listener string it is given (the value the API server stored in that
broker pod's advertised-listeners env var), taking the entry of the named listener. Partition N of
every topic is led by broker N (modulo the broker count), so a client that produces to and consumes
from every partition talks to every broker, at the address that broker advertises.

Implemented (wire protocol, the versions a current client negotiates down to):
ApiVersions v0-v2, Metadata v0-v4, Produce v3 (record batches v2), Fetch v4, ListOffsets v1.
Records are stored in memory as the batches the producer sent (base offsets rewritten).

usage: python3 brokers.py CONFIG.json
CONFIG: {"listener": "EXTERNAL", "stats": "/path/stats.json",
         "brokers": [{"id": 0, "listen": "127.0.0.1:PORT", "advertised": "INTERNAL://...,EXTERNAL://..."}]}
Prints "ready" on stdout once every broker listens; writes per-broker request counts to `stats`.
"""

import json
import socket
import struct
import sys
import threading
import time
from io import BytesIO

from kafka.protocol.api_versions import ApiVersionsResponse_v0, ApiVersionsResponse_v1, ApiVersionsResponse_v2
from kafka.protocol.fetch import FetchRequest_v4, FetchResponse_v4
from kafka.protocol.list_offsets import ListOffsetsRequest_v1, ListOffsetsResponse_v1
from kafka.protocol.metadata import MetadataRequest, MetadataResponse
from kafka.protocol.produce import ProduceRequest_v3, ProduceResponse_v3

UNSUPPORTED_VERSION = 35
NOT_LEADER = 6
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_OUT_OF_RANGE = 1

# Metadata v4 makes the client treat us as Kafka >= 0.11 (record batches v2).
SUPPORTED = {0: (0, 3, 3), 1: (1, 4, 4), 2: (2, 1, 1), 3: (3, 0, 4), 18: (18, 0, 2)}


def parse_listener(advertised, name):
    """host, port of listener `name` in a Kafka listener list (IPv6 hosts are bracketed)."""
    for entry in advertised.split(","):
        lname, _, rest = entry.strip().partition("://")
        if lname == name:
            host, _, port = rest.rpartition(":")
            return host.strip("[]"), int(port)
    raise SystemExit(f"listener {name} not in {advertised!r}")


class Cluster:
    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.brokers = []
        for b in cfg["brokers"]:
            host, port = parse_listener(b["advertised"], cfg["listener"])
            self.brokers.append({"id": b["id"], "host": host, "port": port, "listen": b["listen"]})
        self.logs = {}  # (topic, partition) -> list of (base_offset, count, batch bytes)
        self.stats = {str(b["id"]): {} for b in cfg["brokers"]}

    def count(self, broker, what):
        with self.lock:
            s = self.stats[str(broker)]
            s[what] = s.get(what, 0) + 1
            with open(self.cfg["stats"] + ".tmp", "w") as f:
                json.dump(self.stats, f)
            import os
            os.replace(self.cfg["stats"] + ".tmp", self.cfg["stats"])

    def leader(self, partition):
        return self.brokers[partition % len(self.brokers)]["id"]

    def topic(self, name, create=True):
        with self.lock:
            parts = [p for (t, p) in self.logs if t == name]
            if not parts and create:
                for p in range(len(self.brokers)):
                    self.logs[(name, p)] = []
                parts = list(range(len(self.brokers)))
            return sorted(parts)

    def high_watermark(self, key):
        log = self.logs.get(key, [])
        return log[-1][0] + log[-1][1] if log else 0

    # --- handlers -------------------------------------------------------------------------------

    def api_versions(self, version):
        versions = list(SUPPORTED.values())
        if version > 2:
            return ApiVersionsResponse_v0(error_code=UNSUPPORTED_VERSION, api_versions=versions)
        if version == 0:
            return ApiVersionsResponse_v0(error_code=0, api_versions=versions)
        cls = ApiVersionsResponse_v1 if version == 1 else ApiVersionsResponse_v2
        return cls(error_code=0, api_versions=versions, throttle_time_ms=0)

    def metadata(self, version, body):
        req = MetadataRequest[version].decode(body)
        names = req.topics
        if names is None or (version == 0 and names == []):
            with self.lock:
                names = sorted({t for (t, _) in self.logs})
        topics = []
        for name in names:
            parts = self.topic(name)
            partitions = [(0, p, self.leader(p), [self.leader(p)], [self.leader(p)]) for p in parts]
            topics.append((0, name, partitions) if version == 0 else (0, name, False, partitions))
        if version == 0:
            return MetadataResponse[0](brokers=[(b["id"], b["host"], b["port"]) for b in self.brokers], topics=topics)
        fields = {
            "brokers": [(b["id"], b["host"], b["port"], None) for b in self.brokers],
            "controller_id": self.brokers[0]["id"],
            "topics": topics,
        }
        if version >= 2:
            fields["cluster_id"] = "kafka-advertiser-e2e"
        if version >= 3:
            fields["throttle_time_ms"] = 0
        return MetadataResponse[version](**fields)

    def produce(self, me, body):
        req = ProduceRequest_v3.decode(body)
        out = []
        for topic, partitions in req.topics:
            res = []
            for partition, records in partitions:
                key = (topic, partition)
                if partition not in self.topic(topic):
                    res.append((partition, UNKNOWN_TOPIC_OR_PARTITION, -1, -1))
                    continue
                if self.leader(partition) != me:
                    res.append((partition, NOT_LEADER, -1, -1))
                    continue
                with self.lock:
                    base = self.high_watermark(key)
                    first = base
                    buf = BytesIO(records)
                    while True:
                        head = buf.read(12)
                        if len(head) < 12:
                            break
                        _, length = struct.unpack(">qi", head)
                        rest = buf.read(length)
                        # record batch v2: lastOffsetDelta at byte 23 of the batch (after 12+4+1+4+2)
                        last_delta = struct.unpack(">i", rest[11:15])[0]
                        batch = struct.pack(">qi", base, length) + rest
                        self.logs[key].append((base, last_delta + 1, batch))
                        base += last_delta + 1
                res.append((partition, 0, first, -1))
                self.count(me, "produce")
            out.append((topic, res))
        return ProduceResponse_v3(topics=out, throttle_time_ms=0)

    def fetch(self, me, body):
        req = FetchRequest_v4.decode(body)
        deadline = time.time() + min(req.max_wait_time, 200) / 1000.0
        while True:
            out, any_data = [], False
            for topic, partitions in req.topics:
                res = []
                for partition, offset, _max in partitions:
                    key = (topic, partition)
                    if self.leader(partition) != me:
                        res.append((partition, NOT_LEADER, -1, -1, [], b""))
                        continue
                    with self.lock:
                        hw = self.high_watermark(key)
                        data = b"".join(b for (base, n, b) in self.logs.get(key, []) if base + n > offset)
                    if offset > hw:
                        res.append((partition, OFFSET_OUT_OF_RANGE, hw, hw, [], b""))
                        continue
                    any_data = any_data or bool(data)
                    res.append((partition, 0, hw, hw, [], data))
                    if data:
                        self.count(me, "fetch")
                out.append((topic, res))
            if any_data or time.time() >= deadline:
                return FetchResponse_v4(throttle_time_ms=0, topics=out)
            time.sleep(0.02)

    def list_offsets(self, me, body):
        req = ListOffsetsRequest_v1.decode(body)
        out = []
        for topic, partitions in req.topics:
            res = []
            for partition, ts in partitions:
                with self.lock:
                    hw = self.high_watermark((topic, partition))
                res.append((partition, 0, -1, 0 if ts == -2 else hw))
            out.append((topic, res))
        return ListOffsetsResponse_v1(topics=out)

    # --- wire ---------------------------------------------------------------------------------

    def serve(self, broker):
        host, port = broker["listen"].rsplit(":", 1)
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, int(port)))
        srv.listen(64)
        threading.Thread(target=self.accept, args=(srv, broker["id"]), daemon=True).start()

    def accept(self, srv, me):
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=self.connection, args=(conn, me), daemon=True).start()

    def connection(self, conn, me):
        try:
            while True:
                size = recv_exact(conn, 4)
                if size is None:
                    return
                frame = recv_exact(conn, struct.unpack(">i", size)[0])
                key, version, correlation = struct.unpack(">hhi", frame[:8])
                (client_len,) = struct.unpack(">h", frame[8:10])
                pos = 10 + max(client_len, 0)
                if key == 18:
                    resp = self.api_versions(version)
                else:
                    lo, hi = SUPPORTED.get(key, (key, 0, -1))[1:]
                    if not lo <= version <= hi:
                        return  # a version we never advertised: close, as Kafka does
                    body = BytesIO(frame[pos:])
                    handler = {0: self.produce, 1: self.fetch, 2: self.list_offsets}.get(key)
                    resp = self.metadata(version, body) if key == 3 else handler(me, body)
                    if key == 3:
                        self.count(me, "metadata")
                payload = struct.pack(">i", correlation) + resp.encode()
                conn.sendall(struct.pack(">i", len(payload)) + payload)
        except (ConnectionError, OSError):
            return
        finally:
            conn.close()


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    cluster = Cluster(cfg)
    for b in cfg["brokers"]:
        cluster.serve(b)
    with open(cfg["stats"], "w") as f:
        json.dump(cluster.stats, f)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
