// An outside Kafka client for the e2e round trips: kafkajs. It does what ../client.py does for
// kafka-python and librdkafka: bootstraps through one address, creates a topic with one partition per
// broker, partition N led by broker N (replica assignment [N]), produces one message to every
// partition (so to every broker, at the address it advertises), then consumes them all back (a
// consumer group: kafkajs has no assign()). Prints one JSON line:
// {"ok", "error", "client", "brokers": [[id, host, port]], "leaders", "produced", "consumed"}
// and exits 0 only when every message came back. Names resolve as on a machine outside the cluster:
// IP literals, plus the names in --hosts; nothing is looked up on the network.
//
// usage: node client.js --bootstrap HOST:PORT --topic T --brokers N [--timeout S] [--hosts FILE] [--ca FILE]
'use strict';
const fs = require('fs');
const net = require('net');
const tls = require('tls');
const { Kafka, logLevel } = require('kafkajs');

function parse(argv) {
  const a = { timeout: 60 };
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1];
  a.brokers = Number(a.brokers);
  a.timeout = Number(a.timeout);
  return a;
}

function hostsOf(path) {
  const out = {};
  if (!path) return out;
  for (const line of fs.readFileSync(path, 'utf8').split('\n')) {
    const parts = line.split('#')[0].trim().split(/\s+/).filter(Boolean);
    for (const name of parts.slice(1)) out[name] = parts[0];
  }
  return out;
}

// Connects to the address a name has in the hosts file (IP literals as they are), TLS naming the host.
function socketFactory(hosts) {
  return ({ host, port, ssl, onConnect }) => {
    const ip = net.isIP(host) ? host : hosts[host];
    if (!ip) {
      const s = new net.Socket();
      process.nextTick(() => s.destroy(new Error(`${host}: name does not resolve outside the cluster`)));
      return s;
    }
    const socket = ssl
      ? tls.connect(Object.assign({ host: ip, port }, net.isIP(host) ? {} : { servername: host }, ssl), onConnect)
      : net.connect({ host: ip, port }, onConnect);
    socket.setKeepAlive(true, 30000);
    return socket;
  };
}

async function roundTrip(a, result) {
  const kafka = new Kafka({
    clientId: 'kafka-advertiser-e2e',
    brokers: [a.bootstrap],
    ssl: a.ca ? { ca: [fs.readFileSync(a.ca, 'utf8')] } : false,
    socketFactory: socketFactory(hostsOf(a.hosts)),
    connectionTimeout: 10000,
    requestTimeout: a.timeout * 1000,
    retry: { retries: 15, maxRetryTime: 5000 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const replicaAssignment = [...Array(a.brokers).keys()].map((p) => ({ partition: p, replicas: [p] }));
    await admin.createTopics({ topics: [{ topic: a.topic, replicaAssignment }], waitForLeaders: true });
    const cluster = await admin.describeCluster();
    result.brokers = cluster.brokers.map((b) => [b.nodeId, b.host, b.port]).sort((x, y) => x[0] - y[0]);
    const meta = await admin.fetchTopicMetadata({ topics: [a.topic] });
    for (const p of meta.topics[0].partitions) result.leaders[String(p.partitionId)] = p.leader;
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (let p = 0; p < a.brokers; p++) {
      const [r] = await producer.send({ topic: a.topic, acks: -1, messages: [{ partition: p, value: `message-${p}` }] });
      result.produced[String(p)] = Number(r.baseOffset);
    }
  } finally {
    await producer.disconnect();
  }
  const consumer = kafka.consumer({ groupId: `e2e-${a.topic}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: a.topic, fromBeginning: true });
    let got = 0;
    const all = new Promise((resolve) => {
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          (result.consumed[String(partition)] ||= []).push(message.value.toString());
          if (++got >= a.brokers) resolve();
        },
      });
    });
    const deadline = new Promise((_, reject) => setTimeout(() => reject(new Error('consume: timed out')), a.timeout * 1000));
    await Promise.race([all, deadline]);
  } finally {
    await consumer.disconnect();
  }
}

async function main() {
  const a = parse(process.argv.slice(2));
  const result = { ok: false, error: null, client: 'kafkajs', brokers: [], leaders: {}, produced: {}, consumed: {} };
  try {
    await roundTrip(a, result);
  } catch (e) {
    result.error = String(e && e.stack ? e.message : e);
  }
  const consumed = Object.values(result.consumed).reduce((n, v) => n + v.length, 0);
  result.ok = result.error === null && consumed >= a.brokers;
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.ok ? 0 : 1);
}

main();
