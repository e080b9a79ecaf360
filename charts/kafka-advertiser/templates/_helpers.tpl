{{- define "kafka-advertiser.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The image reference: by digest when one is given. */}}
{{- define "kafka-advertiser.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "kafka-advertiser.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/part-of: kafka-advertiser
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "kafka-advertiser.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "kafka-advertiser.controllerSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* Scheduling and pod security shared by both Deployments. */}}
{{- define "kafka-advertiser.podCommon" -}}
enableServiceLinks: false
{{- /* The kubelet's SIGKILL comes after the shutdown delay and grace, with 5 s to spare. */}}
terminationGracePeriodSeconds: {{ add (include "kafka-advertiser.seconds" .Values.shutdownDelay | int) (include "kafka-advertiser.seconds" .Values.shutdownGrace | int) 5 }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "kafka-advertiser.containerSecurity" -}}
{{- toYaml .Values.securityContext }}
{{- end -}}

{{/* Env both roles read: log level and format, then the user's extraEnv. */}}
{{- define "kafka-advertiser.commonEnv" -}}
- name: KAFKA_ADVERTISER_LOG_FORMAT
  value: {{ .Values.logFormat }}
- name: KAFKA_ADVERTISER_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "kafka-advertiser.probes" -}}
livenessProbe:
  httpGet:
    path: /livez
    port: admin
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: admin
  periodSeconds: 5
  failureThreshold: 2
{{- end -}}

{{- define "kafka-advertiser.tlsSecret" -}}
{{- default (printf "%s-tls" (include "kafka-advertiser.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/* Where the serving certificate comes from: certManager, self or external (tls.source; empty: the older tls.certManager.enabled switch). */}}
{{- define "kafka-advertiser.tlsSource" -}}
{{- if .Values.tls.source -}}{{ .Values.tls.source }}
{{- else if .Values.tls.certManager.enabled -}}certManager
{{- else -}}external
{{- end -}}
{{- end -}}

{{/* The CA of the serving certificate, for tls.source external. */}}
{{- define "kafka-advertiser.caBundle" -}}
{{- default .Values.webhook.caBundle .Values.tls.caBundle -}}
{{- end -}}

{{- /* A duration of the schema's form (`20s`, `1m`) in whole seconds. */ -}}
{{- define "kafka-advertiser.seconds" -}}
{{- if hasSuffix "m" . }}{{ mul (trimSuffix "m" . | int) 60 }}{{ else }}{{ trimSuffix "s" . | int }}{{ end -}}
{{- end -}}
