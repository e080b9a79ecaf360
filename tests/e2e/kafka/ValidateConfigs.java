// Validates broker configs as Apache Kafka starts them: for each case directory that
// `podrunner render-configs` wrote, the apache/kafka image's own Java step
// (kafka.docker.KafkaDockerWrapper.prepareServerConfigs: KAFKA_* env -> server.properties, the image's
// defaults when no KAFKA_* property is given) or the Bitnami properties, then KafkaConfig.fromProps,
// the check kafka.Kafka runs first. Prints one JSON line per case: {"case", "ok", "error"}.
//
//   java -cp '<kafka libs>/*' ValidateConfigs.java CASES_DIR

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import kafka.server.KafkaConfig;

public class ValidateConfigs {
    public static void main(String[] args) throws Exception {
        ObjectMapper json = new ObjectMapper();
        try (var dirs = Files.list(Path.of(args[0]))) {
            for (Path dir : dirs.sorted().toList()) {
                Map<String, Object> line = new TreeMap<>();
                line.put("case", dir.getFileName().toString());
                try {
                    KafkaConfig.fromProps(properties(dir, json), false);
                    line.put("ok", true);
                } catch (Exception e) {
                    line.put("ok", false);
                    line.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
                }
                System.out.println(json.writeValueAsString(line));
            }
        }
    }

    /** The server.properties the broker would read; the image's refusal as an exception. */
    static Properties properties(Path dir, ObjectMapper json) throws Exception {
        if (Files.exists(dir.resolve("refused"))) {
            throw new IllegalStateException("the image refuses to start: " + Files.readString(dir.resolve("refused")));
        }
        Path file = dir.resolve("server.properties");
        if (Files.exists(dir.resolve("env.json"))) {
            @SuppressWarnings("unchecked")
            Map<String, String> env = json.readValue(dir.resolve("env.json").toFile(), Map.class);
            Path fin = dir.resolve("final");
            Files.createDirectories(fin);
            kafka.docker.KafkaDockerWrapper$.MODULE$.prepareServerConfigs(
                    dir.resolve("defaults"), dir.resolve("mounted"), fin,
                    scala.collection.immutable.Map$.MODULE$.from(
                            scala.jdk.javaapi.CollectionConverters.asScala(env)));
            file = fin.resolve("server.properties");
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file)) {
            p.load(r);
        }
        return p;
    }
}
