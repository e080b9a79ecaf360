package main

import (
	"strings"
	"testing"
)

// An image's tag names the Kafka version its jars are taken from: apache/kafka and Bitnami by Kafka's
// own version, cp-kafka by Confluent Platform's (7.B: Kafka 3.B, 8.B: Kafka 4.B); no tag, no version.
func TestTheImageTagNamesTheKafkaVersion(t *testing.T) {
	for _, c := range []struct {
		fl    flavor
		image string
		want  string
	}{
		{apacheKafka, "apache/kafka:3.9.0", "3.9"},
		{apacheKafka, "docker.io/apache/kafka:4.4.0@sha256:abc", "4.4"},
		{apacheKafka, "localhost:5000/apache/kafka:4.1.1", "4.1"},
		{apacheKafka, "localhost:5000/apache/kafka", ""},
		{apacheKafka, "apache/kafka:latest", ""},
		{bitnami, "bitnamilegacy/kafka:3.9.0-debian-12-r4", "3.9"},
		{bitnami, "bitnami/kafka:4.0", "4.0"},
		{confluent, "confluentinc/cp-kafka:7.9.0", "3.9"},
		{confluent, "confluentinc/cp-kafka:8.0.1", "4.0"},
		{confluent, "confluentinc/cp-kafka:6.2.0", ""},
	} {
		if got := kafkaMinor(c.fl, c.image); got != c.want {
			t.Errorf("%s: %q, want %q", c.image, got, c.want)
		}
	}
	libs, err := parseLibs("3.9=/a, 4.4=/b")
	if err != nil || libs["3.9"] != "/a" || libs["4.4"] != "/b" || len(libs) != 2 {
		t.Fatalf("parseLibs: %v %v", libs, err)
	}
	if _, err := parseLibs("3.9"); err == nil {
		t.Fatal("a pair without a directory must be refused")
	}
	r := &runner{jvm: jvm{libs: "/default"}, libsFor: libs}
	if r.jvmFor(apacheKafka, "apache/kafka:3.9.1").libs != "/a" || r.jvmFor(bitnami, "bitnami/kafka:4.0").libs != "/default" {
		t.Fatal("jvmFor picks the version's jars when there are some, else the default")
	}
	// Kafka 3.x's image start-up writes log4j.properties (log4j 1 syntax), 4.x's log4j2.yaml.
	if j := r.jvmFor(apacheKafka, "apache/kafka:3.9.1"); j.log4jFile() != "log4j.properties" ||
		!strings.Contains(strings.Join(j.cmd("/c/log4j.properties", nil, "kafka.Kafka"), " "), "-Dlog4j.configuration=file:/c/log4j.properties") {
		t.Fatalf("3.9: %+v", j)
	}
	if j := r.jvmFor(apacheKafka, "apache/kafka:4.4.0"); j.log4jFile() != "log4j2.yaml" {
		t.Fatalf("4.4: %+v", j)
	}
}
