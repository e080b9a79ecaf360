// A producer and a consumer that keep running while the cluster changes under them (Apache Kafka's Java
// client). The producer sends numbered messages with acks=all (idempotent) to a replication-factor-3
// topic; a consumer group of one reads them as they come (its coordinator is a broker, so it rejoins
// as brokers come and go). When the file STOP exists, both stop; then a fresh consumer
// reads the topic from the beginning, and every message the producer saw acknowledged must be there.
// Beside them a transactional producer writes batches of 10 to TOPIC-txn, one transaction each (every
// tenth aborted on purpose); a read_committed reader then must see each committed batch whole and once,
// no record of an aborted one, and no batch in part (its coordinator is a broker as well).
// Prints one JSON line: {"ok", "sent", "acked", "failed", "consumedLive", "consumedAfter", "lost",
// "errors": {type: count}, "seconds", "longestGapMs", "gaps": [[start epoch ms, ms], ...], "txnCommitted",
// "txnAborted", "txnLost", "txnDuplicates", "txnAbortedVisible", "txnTorn"}; a gap is a time over 500 ms
// in which no send was acknowledged. Exit 0 only when nothing acknowledged or committed is lost and the
// transactions held.
//
// usage: java -cp 'LIBS/*' -Djdk.net.hosts.file=FILE Soak.java BOOTSTRAP TOPIC STOP_FILE
import java.nio.file.*;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.serialization.*;

public class Soak {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        Path stop = Path.of(args[2]);
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        common.put("reconnect.backoff.max.ms", 1000);
        common.put("metadata.max.age.ms", 5000);
        try (Admin admin = Admin.create(common)) {
            admin.createTopics(List.of(new NewTopic(topic, 6, (short) 3).configs(Map.of("min.insync.replicas", "2")),
                            new NewTopic(topic + "-txn", 3, (short) 3).configs(Map.of("min.insync.replicas", "2"))))
                    .all().get(60, TimeUnit.SECONDS);
        }
        // The topic exists: whoever waits for the soak to run may go on (Soak::running).
        Files.writeString(Path.of(args[2] + ".started"), "");
        long t0 = System.nanoTime();
        Set<Long> acked = ConcurrentHashMap.newKeySet();
        Map<String, Integer> errors = new ConcurrentSkipListMap<>();
        AtomicLong sent = new AtomicLong(), failed = new AtomicLong(), live = new AtomicLong();
        AtomicLong lastAck = new AtomicLong(System.currentTimeMillis());
        List<long[]> gaps = Collections.synchronizedList(new ArrayList<>());
        Thread consumer = new Thread(() -> {
            // A consumer group (FindCoordinator, joins, rebalances as brokers come and go), committing.
            Properties gp = (Properties) common.clone();
            gp.put("group.id", "soak-" + topic);
            gp.put("enable.auto.commit", true);
            gp.put("auto.offset.reset", "earliest");
            try (Consumer<String, String> c = new KafkaConsumer<>(gp, new StringDeserializer(), new StringDeserializer())) {
                c.subscribe(List.of(topic));
                while (!Files.exists(stop)) live.addAndGet(c.poll(Duration.ofMillis(500)).count());
            } catch (Exception e) {
                errors.merge("consumer " + e.getClass().getSimpleName(), 1, Integer::sum);
            }
        });
        consumer.start();
        Transactions txn = new Transactions(common, topic + "-txn", stop, errors);
        Thread transactional = new Thread(txn::run);
        transactional.start();
        Properties pp = (Properties) common.clone();
        pp.put("acks", "all");
        pp.put("enable.idempotence", true);
        pp.put("delivery.timeout.ms", 120000);
        pp.put("linger.ms", 5);
        try (Producer<String, String> p = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
            for (long n = 0; !Files.exists(stop); n++) {
                final long seq = n;
                sent.incrementAndGet();
                p.send(new ProducerRecord<>(topic, Long.toString(seq), Long.toString(seq)), (md, e) -> {
                    if (e == null) {
                        acked.add(seq);
                        long now = System.currentTimeMillis(), before = lastAck.getAndSet(now);
                        if (now - before > 500) gaps.add(new long[] {before, now - before});
                    } else {
                        failed.incrementAndGet();
                        errors.merge(e.getClass().getSimpleName(), 1, Integer::sum);
                    }
                });
                Thread.sleep(5);
            }
            p.flush();
        }
        long stoppedAt = System.currentTimeMillis();
        consumer.join();
        transactional.join();
        String txnResult = txn.check();
        Set<Long> seen = new HashSet<>();
        readToEnd(common, topic, r -> seen.add(Long.parseLong(r.value())));
        long lost = acked.stream().filter(s -> !seen.contains(s)).count();
        StringBuilder e = new StringBuilder("{");
        errors.forEach((k, v) -> e.append(e.length() > 1 ? ", " : "").append('"').append(k).append("\": ").append(v));
        long endGap = stoppedAt - lastAck.get();
        if (endGap > 500) gaps.add(new long[] {lastAck.get(), endGap});
        StringBuilder g = new StringBuilder("[");
        long longest = 0;
        synchronized (gaps) {
            for (long[] gap : gaps) {
                g.append(g.length() > 1 ? ", " : "").append('[').append(gap[0]).append(", ").append(gap[1]).append(']');
                longest = Math.max(longest, gap[1]);
            }
        }
        g.append(']');
        System.out.printf("{\"ok\": %s, \"sent\": %d, \"acked\": %d, \"failed\": %d, \"consumedLive\": %d, \"consumedAfter\": %d, "
                        + "\"lost\": %d, \"errors\": %s}, \"seconds\": %.1f, \"longestGapMs\": %d, \"gaps\": %s, %s}%n",
                lost == 0 && !acked.isEmpty() && txn.held(), sent.get(), acked.size(), failed.get(), live.get(), seen.size(),
                lost, e, (System.nanoTime() - t0) / 1e9, longest, g, txnResult);
        System.exit(lost == 0 && !acked.isEmpty() && txn.held() ? 0 : 1);
    }

    /** The transactional producer: batch B is 10 records keyed B, committed, or aborted when B % 10 == 9. */
    static class Transactions {
        final Properties props;
        final String topic;
        final Path stop;
        final Map<String, Integer> errors;
        final Set<Long> committed = ConcurrentHashMap.newKeySet(), aborted = ConcurrentHashMap.newKeySet();
        long lostRecords, duplicates, abortedVisible, torn;

        Transactions(Properties common, String topic, Path stop, Map<String, Integer> errors) {
            props = (Properties) common.clone();
            props.put("transactional.id", "soak-" + topic);
            props.put("delivery.timeout.ms", 120000);
            this.topic = topic;
            this.stop = stop;
            this.errors = errors;
        }

        void run() {
            long batch = 0;
            while (!Files.exists(stop)) {
                // A producer per failure that needs one (fenced, or its state unknown): initTransactions
                // aborts whatever it left open, so its last batch counts as neither committed nor aborted.
                try (Producer<String, String> p = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
                    p.initTransactions();
                    for (; !Files.exists(stop); batch++) {
                        p.beginTransaction();
                        for (int i = 0; i < 10; i++) p.send(new ProducerRecord<>(topic, Long.toString(batch), batch + "/" + i));
                        if (batch % 10 == 9) {
                            p.abortTransaction();
                            aborted.add(batch);
                        } else {
                            p.commitTransaction();
                            committed.add(batch);
                        }
                        Thread.sleep(20);
                    }
                } catch (Exception e) {
                    errors.merge("txn " + e.getClass().getSimpleName(), 1, Integer::sum);
                    batch++;
                    try { Thread.sleep(500); } catch (InterruptedException ie) { return; }
                }
            }
        }

        /** Reads the topic read_committed and judges; returns the JSON fields. */
        String check() {
            Properties cp = (Properties) props.clone();
            cp.remove("transactional.id");
            cp.put("isolation.level", "read_committed");
            Map<Long, List<String>> seen = new HashMap<>();
            readToEnd(cp, topic, r -> seen.computeIfAbsent(Long.parseLong(r.key()), k -> new ArrayList<>()).add(r.value()));
            for (long b : committed) lostRecords += 10 - new HashSet<>(seen.getOrDefault(b, List.of())).size();
            for (long b : aborted) abortedVisible += seen.getOrDefault(b, List.of()).size();
            for (List<String> values : seen.values()) {
                int distinct = new HashSet<>(values).size();
                duplicates += values.size() - distinct;
                if (distinct != 10) torn++;
            }
            return String.format("\"txnCommitted\": %d, \"txnAborted\": %d, \"txnLost\": %d, \"txnDuplicates\": %d, "
                    + "\"txnAbortedVisible\": %d, \"txnTorn\": %d", committed.size(), aborted.size(), lostRecords, duplicates,
                    abortedVisible, torn);
        }

        boolean held() {
            return !committed.isEmpty() && lostRecords == 0 && duplicates == 0 && abortedVisible == 0 && torn == 0;
        }
    }

    /** Reads every partition of `topic` from the beginning to its end offsets (60 s at most). */
    static void readToEnd(Properties props, String topic, java.util.function.Consumer<ConsumerRecord<String, String>> each) {
        try (Consumer<String, String> c = consumer(props)) {
            List<TopicPartition> tps = assignAll(c, topic);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            long deadline = System.currentTimeMillis() + 60000;
            while (System.currentTimeMillis() < deadline && tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp)))
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) each.accept(r);
        }
    }

    static Consumer<String, String> consumer(Properties common) {
        Properties cp = (Properties) common.clone();
        cp.put("enable.auto.commit", false);
        cp.put("auto.offset.reset", "earliest");
        return new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer());
    }

    static List<TopicPartition> assignAll(Consumer<String, String> c, String topic) {
        List<TopicPartition> tps = new ArrayList<>();
        for (PartitionInfo pi : c.partitionsFor(topic)) tps.add(new TopicPartition(topic, pi.partition()));
        c.assign(tps);
        return tps;
    }
}
