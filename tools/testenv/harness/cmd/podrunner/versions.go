package main

import (
	"fmt"
	"log"
	"strconv"
	"strings"
)

// kafkaMinor: the Apache Kafka "major.minor" an image's tag ships, "" when the tag does not say
// (latest, a digest only). apache/kafka and Bitnami tag by it (3.9.0, 4.0, 3.9.0-debian-12-r1);
// Confluent Platform's cp-kafka by its own version: 7.B ships Kafka 3.B, 8.B ships Kafka 4.B.
func kafkaMinor(fl flavor, image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	i := strings.LastIndexByte(image, ':')
	if i < 0 || i < strings.LastIndexByte(image, '/') {
		return ""
	}
	parts := strings.SplitN(strings.SplitN(image[i+1:], "-", 2)[0], ".", 3)
	if len(parts) < 2 {
		return ""
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return ""
	}
	if fl == confluent {
		switch major {
		case 7:
			major = 3
		case 8:
			major = 4
		default:
			return ""
		}
	}
	return fmt.Sprintf("%d.%d", major, minor)
}

// parseLibs: "3.9=DIR,4.4=DIR" (podrunner -kafka-libs-for) as a map.
func parseLibs(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q: want MAJOR.MINOR=DIR", kv)
		}
		out[k] = v
	}
	return out, nil
}

// jvmFor: the JVM settings for a broker container: the jars of the Kafka version its image's tag
// names when this runner has them, else the default jars (said once per image).
func (r *runner) jvmFor(fl flavor, image string) jvm {
	j := r.jvm
	m := kafkaMinor(fl, image)
	if libs, ok := r.libsFor[m]; ok {
		j.libs, j.log4j1 = libs, strings.HasPrefix(m, "3.")
		return j
	}
	r.mu.Lock()
	first := !r.defaultSaid[image]
	if r.defaultSaid == nil {
		r.defaultSaid = map[string]bool{}
	}
	r.defaultSaid[image] = true
	r.mu.Unlock()
	if first {
		log.Printf("image %s: no jars for Kafka %q here: runs the default ones (%s)", image, m, j.libs)
	}
	return j
}
