package main

import (
	"fmt"
	"regexp"
	"strings"
)

// flavor: which image's start-up rules a broker container follows.
type flavor string

const (
	apacheKafka flavor = "apache/kafka"          // and apache/kafka-native
	confluent   flavor = "confluentinc/cp-kafka" // the same KAFKA_* rules
	bitnami     flavor = "bitnami/kafka"
	product     flavor = "kafka-advertiser" // not a broker: product.go
)

// imageFlavor: the Kafka image a container runs, by repository (registry host, tag and digest ignored).
func imageFlavor(image string) (flavor, bool) {
	repo := image
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	parts := strings.Split(repo, "/")
	if len(parts) > 2 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		parts = parts[1:]
	}
	repo = strings.Join(parts, "/")
	switch {
	case repo == "apache/kafka" || repo == "apache/kafka-native":
		return apacheKafka, true
	case repo == "confluentinc/cp-kafka":
		return confluent, true
	case strings.HasPrefix(repo, "bitnami") && strings.HasSuffix(repo, "/kafka"):
		return bitnami, true
	}
	return "", false
}

// dockerDefaults applies what the apache/kafka image's shell scripts do before its Java wrapper runs
// (apache/kafka docker/resources/common-scripts/configureDefaults and configure, and docker/jvm/launch):
// CLUSTER_ID's default, the KRaft-controller check on advertised listeners, KAFKA_LISTENERS derived
// from KAFKA_ADVERTISED_LISTENERS with every host made 0.0.0.0, and the SSL keystore files looked up
// in /etc/kafka/secrets. The error is what the image prints before it exits 1.
func dockerDefaults(env map[string]string, exists func(string) bool, read func(string) (string, error)) error {
	if env["CLUSTER_ID"] == "" {
		env["CLUSTER_ID"] = "5L6g3nShT-eMCtK--X86sw" // configureDefaults
	}
	roles, kraft := env["KAFKA_PROCESS_ROLES"]
	if kraft && roles == "controller" {
		if _, ok := env["KAFKA_ADVERTISED_LISTENERS"]; ok && env["KAFKA_ADVERTISED_LISTENERS"] != "" {
			return fmt.Errorf("KAFKA_ADVERTISED_LISTENERS is not supported on a KRaft controller.")
		}
		delete(env, "KAFKA_ADVERTISED_LISTENERS")
	}
	adv := env["KAFKA_ADVERTISED_LISTENERS"]
	if env["KAFKA_LISTENERS"] == "" && roles != "controller" && adv != "" {
		env["KAFKA_LISTENERS"] = anyHost.ReplaceAllString(adv, "://0.0.0.0:")
	}
	if strings.Contains(adv, "SSL://") {
		return sslFiles(env, exists, read)
	}
	return nil
}

var anyHost = regexp.MustCompile(`://[^:]*:`)

const secretsDir = "/etc/kafka/secrets"

func sslFiles(env map[string]string, exists func(string) bool, read func(string) (string, error)) error {
	need := func(k string) (string, error) {
		if env[k] == "" {
			return "", fmt.Errorf("%s environment variable not set", k)
		}
		p := secretsDir + "/" + env[k]
		if !exists(p) {
			return "", fmt.Errorf("%s file does not exist", p)
		}
		return p, nil
	}
	ks, err := need("KAFKA_SSL_KEYSTORE_FILENAME")
	if err != nil {
		return err
	}
	env["KAFKA_SSL_KEYSTORE_LOCATION"] = ks
	for _, c := range [][2]string{{"KAFKA_SSL_KEY_CREDENTIALS", "KAFKA_SSL_KEY_PASSWORD"}, {"KAFKA_SSL_KEYSTORE_CREDENTIALS", "KAFKA_SSL_KEYSTORE_PASSWORD"}} {
		p, err := need(c[0])
		if err != nil {
			return err
		}
		if env[c[1]], err = read(p); err != nil {
			return err
		}
	}
	if a := env["KAFKA_SSL_CLIENT_AUTH"]; strings.Contains(a, "required") || strings.Contains(a, "requested") {
		ts, err := need("KAFKA_SSL_TRUSTSTORE_FILENAME")
		if err != nil {
			return err
		}
		env["KAFKA_SSL_TRUSTSTORE_LOCATION"] = ts
		p, err := need("KAFKA_SSL_TRUSTSTORE_CREDENTIALS")
		if err != nil {
			return err
		}
		if env["KAFKA_SSL_TRUSTSTORE_PASSWORD"], err = read(p); err != nil {
			return err
		}
	}
	return nil
}

// bindToPod: a listener bound to every interface (empty host or 0.0.0.0/::) binds the pod's IP, as
// it would inside the pod's network namespace; an explicit host is kept.
func bindToPod(listeners, podIP string) string {
	items := strings.Split(listeners, ",")
	for i, it := range items {
		name, rest, ok := strings.Cut(strings.TrimSpace(it), "://")
		if !ok {
			continue
		}
		host, port, ok := cutPort(rest)
		if !ok {
			continue
		}
		if host == "" || host == "0.0.0.0" || host == "[::]" || host == "::" {
			host = podIP
		}
		items[i] = name + "://" + host + ":" + port
	}
	return strings.Join(items, ",")
}

func cutPort(hostport string) (string, string, bool) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return "", "", false
	}
	return hostport[:i], hostport[i+1:], true
}
