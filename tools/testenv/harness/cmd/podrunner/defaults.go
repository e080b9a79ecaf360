package main

import "fmt"

// The apache/kafka image's defaults, used by its Java wrapper only when no KAFKA_* variable gives
// any server property (/etc/kafka/docker/server.properties: one combined KRaft node on localhost).
// Paths are container paths; the runner maps them into the pod's directory.
const imageServerDefaults = `process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
log.dirs=%s
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
`

func serverDefaults(logDirs string) string { return fmt.Sprintf(imageServerDefaults, logDirs) }

// log4j2 as the image configures it (INFO to stdout), for the broker and for the storage tool.
// log4jDefaults: the same in log4j 1's syntax, what the Kafka 3.x image ships (docker/resources/
// common-scripts/log4j.properties and tools-log4j.properties); read through log4j2's 1.x bridge.
const log4jDefaults = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
`

const log4j2Defaults = `Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
`
