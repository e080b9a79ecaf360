// An outside Kafka client for the e2e round trips: Apache Kafka's Java client (kafka-clients).
//
// The same contract as client.py: bootstraps through one address, creates a topic with partition N led
// by broker N, produces one message to every partition with acks=all, consumes them back, and prints one
// JSON line {"ok", "error", "client", "brokers", "leaders", "produced", "consumed"}; exit 0 only when
// every message came back. Names resolve from the hosts file given as -Djdk.net.hosts.file (what a DNS
// zone would publish; an empty file: IP literals only), never from the network.
//
// usage: java -cp 'LIBS/*' -Djdk.net.hosts.file=FILE Client.java BOOTSTRAP TOPIC BROKERS TIMEOUT_S [CA_PEM]
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.serialization.*;

public class Client {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        int brokers = Integer.parseInt(args[2]);
        long timeoutMs = (long) (Double.parseDouble(args[3]) * 1000);
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        common.put("request.timeout.ms", (int) timeoutMs);
        common.put("default.api.timeout.ms", (int) timeoutMs);
        common.put("reconnect.backoff.max.ms", 500);
        if (args.length > 4) {
            common.put("security.protocol", "SSL");
            common.put("ssl.truststore.type", "PEM");
            common.put("ssl.truststore.certificates", Files.readString(Path.of(args[4])));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        Map<String, Object> produced = new TreeMap<>(), leaders = new TreeMap<>();
        Map<String, List<String>> consumed = new TreeMap<>();
        List<List<Object>> seen = new ArrayList<>();
        out.put("ok", false);
        out.put("error", null);
        out.put("client", "java");
        out.put("version", org.apache.kafka.common.utils.AppInfoParser.getVersion());
        try {
            try (Admin admin = Admin.create(common)) {
                Map<Integer, List<Integer>> assignment = new HashMap<>();
                for (int p = 0; p < brokers; p++) assignment.put(p, List.of(p));
                // A broker that has just restarted is Ready (its port answers) but fenced until it has
                // caught up with the metadata log: wait for every broker to be registered, as an
                // application's admin would retry, then place one partition on each.
                long until = System.currentTimeMillis() + timeoutMs;
                while (true) {
                    seen.clear();
                    for (Node n : admin.describeCluster().nodes().get()) seen.add(List.of(n.id(), n.host(), n.port()));
                    seen.sort(Comparator.comparingInt(l -> (Integer) l.get(0)));
                    try {
                        admin.createTopics(List.of(new NewTopic(topic, assignment))).all().get();
                        break;
                    } catch (java.util.concurrent.ExecutionException e) {
                        boolean fenced = e.getCause() instanceof org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
                        if (!fenced || System.currentTimeMillis() > until) throw e;
                        Thread.sleep(500);
                    }
                }
            }
            Properties pp = (Properties) common.clone();
            pp.put("acks", "all");
            pp.put("max.block.ms", (int) timeoutMs);
            pp.put("delivery.timeout.ms", (int) timeoutMs + 1000);
            try (Producer<String, String> producer = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
                for (int p = 0; p < brokers; p++) {
                    RecordMetadata m = producer.send(new ProducerRecord<>(topic, p, null, "message-" + p)).get();
                    produced.put(String.valueOf(p), m.offset());
                }
                for (PartitionInfo pi : producer.partitionsFor(topic)) leaders.put(String.valueOf(pi.partition()), pi.leader().id());
            }
            Properties cp = (Properties) common.clone();
            cp.put("enable.auto.commit", false);
            cp.put("auto.offset.reset", "earliest");
            try (Consumer<String, String> consumer = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
                List<TopicPartition> tps = new ArrayList<>();
                for (int p = 0; p < brokers; p++) tps.add(new TopicPartition(topic, p));
                consumer.assign(tps);
                consumer.seekToBeginning(tps);
                long deadline = System.currentTimeMillis() + timeoutMs;
                int got = 0;
                while (got < brokers && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                        consumed.computeIfAbsent(String.valueOf(r.partition()), k -> new ArrayList<>()).add(r.value());
                        got++;
                    }
                }
            }
            boolean ok = consumed.size() == brokers;
            for (int p = 0; p < brokers; p++) ok &= List.of("message-" + p).equals(consumed.get(String.valueOf(p)));
            out.put("ok", ok);
            if (!ok) out.put("error", "consumed " + consumed);
        } catch (Exception e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            out.put("error", c.getClass().getSimpleName() + ": " + c.getMessage());
        }
        out.put("brokers", seen);
        out.put("leaders", leaders);
        out.put("produced", produced);
        out.put("consumed", consumed);
        System.out.println(json(out));
        System.exit(Boolean.TRUE.equals(out.get("ok")) ? 0 : 1);
    }

    static String json(Object o) {
        if (o == null) return "null";
        if (o instanceof String s) return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
        if (o instanceof Map<?, ?> m)
            return m.entrySet().stream().map(e -> json(e.getKey().toString()) + ": " + json(e.getValue()))
                    .collect(Collectors.joining(", ", "{", "}"));
        if (o instanceof Collection<?> c) return c.stream().map(Client::json).collect(Collectors.joining(", ", "[", "]"));
        return o.toString();
    }
}
