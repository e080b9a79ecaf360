"""An outside Kafka client (kafka-python) for the e2e round trip.

Bootstraps through one address, produces one message to every partition of a fresh topic (so to
every broker, as partition N is led by broker N), then consumes them all back. Prints one JSON line:
{"ok": bool, "error": str|null, "brokers": [[id, host, port]], "produced": {p: offset}, "consumed": {p: [values]}}
and exits 0 only when every message came back.

Names are resolved as on a machine outside the cluster: IP literals only. A name such as
`kafka-0.kafka-headless.ns.svc.cluster.local` does not resolve (and no DNS query leaves this machine).

usage: python3 client.py BOOTSTRAP TOPIC TIMEOUT_SECONDS
"""

import ipaddress
import json
import socket
import sys
import time

_real_getaddrinfo = socket.getaddrinfo


def outside_getaddrinfo(host, *args, **kwargs):
    try:
        ipaddress.ip_address(host.strip("[]") if isinstance(host, str) else host)
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: name does not resolve outside the cluster")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = outside_getaddrinfo

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402


def main():
    bootstrap, topic, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    result = {"ok": False, "error": None, "brokers": [], "produced": {}, "consumed": {}}
    producer = consumer = None
    try:
        producer = KafkaProducer(
            bootstrap_servers=[bootstrap],
            acks=1,
            linger_ms=0,
            retries=0,
            max_block_ms=int(timeout * 1000),
            request_timeout_ms=int(timeout * 1000),
            reconnect_backoff_max_ms=500,
        )
        partitions = sorted(producer.partitions_for(topic))
        meta = producer._metadata
        result["brokers"] = sorted([b.nodeId, b.host, b.port] for b in meta.brokers())
        futures = {p: producer.send(topic, value=f"message-{p}".encode(), partition=p) for p in partitions}
        for p, fut in futures.items():
            result["produced"][str(p)] = fut.get(timeout=timeout).offset
        producer.flush(timeout=timeout)

        consumer = KafkaConsumer(
            bootstrap_servers=[bootstrap],
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            consumer_timeout_ms=int(timeout * 1000),
            request_timeout_ms=int(timeout * 1000) + 1000,
            reconnect_backoff_max_ms=500,
        )
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.time() + timeout
        got = 0
        while got < len(partitions) and time.time() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    result["consumed"].setdefault(str(tp.partition), []).append(r.value.decode())
                    got += 1
        result["ok"] = got == len(partitions) and all(
            result["consumed"].get(str(p)) == [f"message-{p}"] for p in partitions
        )
        if not result["ok"]:
            result["error"] = f"consumed {got} of {len(partitions)} messages"
    except Exception as e:  # the control case: report why the client could not get through
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        for c in (producer, consumer):
            if c is not None:
                try:
                    c.close(timeout=1) if c is producer else c.close()
                except Exception:
                    pass
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
