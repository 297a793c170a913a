{{/*
Names and labels shared by every resource of the chart.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "swerve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<chart>", or fullnameOverride; the release name alone when it already holds the chart name. */}}
{{- define "swerve.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "swerve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "swerve.labels" -}}
helm.sh/chart: {{ include "swerve.chart" . }}
{{ include "swerve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: swerve
{{- end }}

{{/* Labels that select the chart's pods (add app.kubernetes.io/component for one role). */}}
{{- define "swerve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "swerve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The workers' ServiceAccount name. */}}
{{- define "swerve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "swerve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The container image reference; the tag defaults to appVersion. */}}
{{- define "swerve.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/* The policy file the workers get as --policy (the ConfigMap's key, mounted by subPath). */}}
{{- define "swerve.policyPath" -}}/etc/swerve/policy.yaml{{- end }}
{{/* SWERVE_DATA_DIR, an emptyDir. */}}
{{- define "swerve.dataDir" -}}/var/lib/swerve{{- end }}
{{/* Where a shared image-store PVC is mounted. */}}
{{- define "swerve.imageStorePath" -}}/var/lib/swerve/images{{- end }}
{{/* Where the audit signing key Secret is mounted (one file, named by audit.signingKey.key). */}}
{{- define "swerve.auditKeyDir" -}}/etc/swerve/audit-key{{- end }}
{{/* SWERVE_AUDIT_TRUSTED_KEYS_DIR: where the trusted public keys are mounted. */}}
{{- define "swerve.auditTrustedKeysDir" -}}/etc/swerve/audit-trusted-keys{{- end }}

{{/*
Checks of values that would otherwise fail only inside a running pod. Included by every
workload, so `helm template` / `helm install` fail early with a message that names the value.
*/}}
{{- define "swerve.validate" -}}
{{- $kafka := .Values.kafka }}
{{- $_ := required "kafka.bootstrap is required: the Kafka bootstrap servers swerve connects to, e.g. --set kafka.bootstrap=kafka-0.kafka:9092,kafka-1.kafka:9092 (SWERVE_KAFKA_BOOTSTRAP)" $kafka.bootstrap }}
{{- $protocols := list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL" }}
{{- if not (has $kafka.securityProtocol $protocols) }}
{{- fail (printf "kafka.securityProtocol must be one of %s, got %q" (join ", " $protocols) (toString $kafka.securityProtocol)) }}
{{- end }}
{{- if hasPrefix "SASL" $kafka.securityProtocol }}
{{- $mechanisms := list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512" }}
{{- if not (has $kafka.saslMechanism $mechanisms) }}
{{- fail (printf "kafka.saslMechanism must be one of %s with kafka.securityProtocol=%s, got %q" (join ", " $mechanisms) $kafka.securityProtocol (toString $kafka.saslMechanism)) }}
{{- end }}
{{- $_ := required (printf "kafka.sasl.existingSecret is required with kafka.securityProtocol=%s: the name of an existing Secret holding the SASL username and password" $kafka.securityProtocol) $kafka.sasl.existingSecret }}
{{- end }}
{{- if and $kafka.tls.existingSecret (not (hasSuffix "SSL" $kafka.securityProtocol)) }}
{{- fail (printf "kafka.tls.existingSecret is set but kafka.securityProtocol=%s does not use TLS; use SSL or SASL_SSL" $kafka.securityProtocol) }}
{{- end }}
{{- if and .Values.imageStore.uri .Values.imageStore.existingClaim }}
{{- fail "set imageStore.uri or imageStore.existingClaim, not both" }}
{{- end }}
{{- if .Values.correct.enabled }}
{{- /* `required`, not `fail`: Helm's lint mode only logs a missing required value, so the
chart's defaults still lint while a real install or `helm template` stops here. */}}
{{- $_ := required "imageStore.uri or imageStore.existingClaim is required while correct.enabled=true: a replacement over media.maxInlineBytes is written to the image store, and only a store every pod and every delivery consumer can read makes its URI usable. Set e.g. --set imageStore.uri=s3://bucket/swerve (SWERVE_IMAGE_STORE_URI) or imageStore.existingClaim=<ReadWriteMany PVC>" (or .Values.imageStore.uri .Values.imageStore.existingClaim) }}
{{- end }}
{{- include "swerve.validateKeda" . }}
{{- if lt (int64 .Values.media.maxBytes) (int64 .Values.media.maxInlineBytes) }}
{{- fail "media.maxInlineBytes must not exceed media.maxBytes" }}
{{- end }}
{{- $audit := .Values.audit }}
{{- if and $audit.signingKey.existingSecret (not $audit.signingKey.key) }}
{{- fail (printf "audit.signingKey.key must not be empty with audit.signingKey.existingSecret=%s: the key of the Ed25519 private key file in that Secret, e.g. audit.key (SWERVE_AUDIT_SIGNING_KEY_PATH)" $audit.signingKey.existingSecret) }}
{{- end }}
{{- if and $audit.trustedKeys.existingSecret $audit.trustedKeys.existingConfigMap }}
{{- fail "set audit.trustedKeys.existingSecret or audit.trustedKeys.existingConfigMap, not both" }}
{{- end }}
{{- $worker := .Values.worker }}
{{- with $worker.tenant }}
{{- if not (regexMatch "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$" (toString .)) }}
{{- fail (printf "worker.tenant must be a safe name ([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}), got %q (SWERVE_WORKER_TENANT)" (toString .)) }}
{{- end }}
{{- end }}
{{- if le (float64 $worker.idClaimsRetentionH) 0.0 }}
{{- fail "worker.idClaimsRetentionH must be above 0 (SWERVE_WORKER_ID_CLAIMS_RETENTION_H)" }}
{{- end }}
{{- if or (lt (int64 $worker.idClaimsFetchWaitMs) 1) (gt (int64 $worker.idClaimsFetchWaitMs) 5000) }}
{{- fail "worker.idClaimsFetchWaitMs must be between 1 and 5000 (SWERVE_WORKER_ID_CLAIMS_FETCH_WAIT_MS)" }}
{{- end }}
{{- end }}

{{/*
The SWERVE_* environment shared by every role and the topics Job (streams/settings.py).
Numbers pass through int64 so that large values never render in float notation.
*/}}
{{- define "swerve.env" -}}
{{- $kafka := .Values.kafka -}}
- name: SWERVE_KAFKA_BOOTSTRAP
  value: {{ $kafka.bootstrap | quote }}
- name: SWERVE_KAFKA_SECURITY_PROTOCOL
  value: {{ $kafka.securityProtocol | quote }}
{{- if $kafka.clientId }}
- name: SWERVE_KAFKA_CLIENT_ID
  value: {{ $kafka.clientId | quote }}
{{- end }}
{{- if hasPrefix "SASL" $kafka.securityProtocol }}
- name: SWERVE_KAFKA_SASL_MECHANISM
  value: {{ $kafka.saslMechanism | quote }}
- name: SWERVE_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.sasl.existingSecret }}
      key: {{ $kafka.sasl.usernameKey }}
- name: SWERVE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.sasl.existingSecret }}
      key: {{ $kafka.sasl.passwordKey }}
{{- end }}
{{- if $kafka.tls.existingSecret }}
{{- if $kafka.tls.caKey }}
- name: SWERVE_KAFKA_SSL_CAFILE
  value: {{ printf "%s/%s" $kafka.tls.mountPath $kafka.tls.caKey | quote }}
{{- end }}
{{- if $kafka.tls.certKey }}
- name: SWERVE_KAFKA_SSL_CERTFILE
  value: {{ printf "%s/%s" $kafka.tls.mountPath $kafka.tls.certKey | quote }}
{{- end }}
{{- if $kafka.tls.keyKey }}
- name: SWERVE_KAFKA_SSL_KEYFILE
  value: {{ printf "%s/%s" $kafka.tls.mountPath $kafka.tls.keyKey | quote }}
{{- end }}
{{- end }}
- name: SWERVE_TOPIC_PREFIX
  value: {{ .Values.topicPrefix | quote }}
- name: SWERVE_WORKER_TOPIC_PARTITIONS
  value: {{ .Values.topics.partitions | int64 | quote }}
- name: SWERVE_WORKER_REPLICATION_FACTOR
  value: {{ .Values.topics.replicationFactor | int64 | quote }}
- name: SWERVE_WORKER_DETECT_BATCH_SIZE
  value: {{ .Values.worker.detectBatchSize | int64 | quote }}
- name: SWERVE_WORKER_DETECT_BATCH_WINDOW_S
  value: {{ .Values.worker.detectBatchWindowS | toString | quote }}
- name: SWERVE_WORKER_CORRECT_CONCURRENCY
  value: {{ .Values.worker.correctConcurrency | int64 | quote }}
- name: SWERVE_WORKER_SESSION_TIMEOUT_S
  value: {{ .Values.worker.sessionTimeoutS | toString | quote }}
- name: SWERVE_WORKER_HEARTBEAT_INTERVAL_S
  value: {{ .Values.worker.heartbeatIntervalS | toString | quote }}
- name: SWERVE_WORKER_COMMIT_INTERVAL_S
  value: {{ .Values.worker.commitIntervalS | toString | quote }}
- name: SWERVE_WORKER_EXACTLY_ONCE
  value: {{ .Values.worker.exactlyOnce | toString | quote }}
{{- if not (kindIs "invalid" .Values.worker.webPort) }}
- name: SWERVE_WORKER_WEB_PORT
  value: {{ .Values.worker.webPort | int64 | quote }}
{{- end }}
{{- with .Values.worker.tenant }}
- name: SWERVE_WORKER_TENANT
  value: {{ . | toString | quote }}
{{- end }}
- name: SWERVE_WORKER_ID_CLAIMS
  value: {{ .Values.worker.idClaims | toString | quote }}
- name: SWERVE_WORKER_ID_CLAIMS_RETENTION_H
  value: {{ .Values.worker.idClaimsRetentionH | toString | quote }}
- name: SWERVE_WORKER_ID_CLAIMS_FETCH_WAIT_MS
  value: {{ .Values.worker.idClaimsFetchWaitMs | int64 | quote }}
- name: SWERVE_MEDIA_MAX_INLINE_BYTES
  value: {{ .Values.media.maxInlineBytes | int64 | quote }}
- name: SWERVE_MEDIA_MAX_BYTES
  value: {{ .Values.media.maxBytes | int64 | quote }}
- name: SWERVE_MEDIA_MAX_PIXELS
  value: {{ .Values.media.maxPixels | int64 | quote }}
- name: SWERVE_MEDIA_FETCH_TIMEOUT_S
  value: {{ .Values.media.fetchTimeoutS | toString | quote }}
- name: SWERVE_IMAGE_STORE_URI
  value: {{ include "swerve.imageStoreUri" . | quote }}
- name: SWERVE_DATA_DIR
  value: {{ include "swerve.dataDir" . | quote }}
- name: SWERVE_POLICY_PATH
  value: {{ include "swerve.policyPath" . | quote }}
- name: HOME
  value: /tmp
{{- if .Values.models.offline }}
- name: HF_HUB_OFFLINE
  value: "1"
- name: TRANSFORMERS_OFFLINE
  value: "1"
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* SWERVE_IMAGE_STORE_URI: the configured URI, or the path of the PVC. Without either (allowed only
while the correct role is off) the path is in the pod's own data emptyDir: detect and screen never
write there, so only inline images are read. */}}
{{- define "swerve.imageStoreUri" -}}
{{- if .Values.imageStore.uri }}
{{- .Values.imageStore.uri }}
{{- else }}
{{- printf "file://%s" (include "swerve.imageStorePath" .) }}
{{- end }}
{{- end }}

{{/* The Kafka TLS files from an existing Secret: the volume and its mount (callers check kafka.tls.existingSecret). */}}
{{- define "swerve.kafkaTlsVolume" -}}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}

{{- define "swerve.kafkaTlsVolumeMount" -}}
- name: kafka-tls
  mountPath: {{ .Values.kafka.tls.mountPath }}
  readOnly: true
{{- end }}

{{/*
The audit keys (audit.*): SWERVE_AUDIT_* for the worker pods only. The topics Job neither
signs nor verifies, so it gets neither the variables nor the private key.
*/}}
{{- define "swerve.auditEnv" -}}
{{- $audit := .Values.audit }}
{{- if $audit.signingKey.existingSecret }}
- name: SWERVE_AUDIT_SIGNING_KEY_PATH
  value: {{ printf "%s/%s" (include "swerve.auditKeyDir" .) $audit.signingKey.key | quote }}
{{- end }}
{{- if or $audit.trustedKeys.existingSecret $audit.trustedKeys.existingConfigMap }}
- name: SWERVE_AUDIT_TRUSTED_KEYS_DIR
  value: {{ include "swerve.auditTrustedKeysDir" . | quote }}
{{- end }}
{{- end }}

{{/* The audit key volumes; empty when neither is configured. Only the signing key's own file is projected, owner-read-only. */}}
{{- define "swerve.auditVolumes" -}}
{{- $audit := .Values.audit }}
{{- if $audit.signingKey.existingSecret }}
- name: audit-signing-key
  secret:
    secretName: {{ $audit.signingKey.existingSecret }}
    defaultMode: 0400
    items:
      - key: {{ $audit.signingKey.key | quote }}
        path: {{ $audit.signingKey.key | quote }}
{{- end }}
{{- if $audit.trustedKeys.existingSecret }}
- name: audit-trusted-keys
  secret:
    secretName: {{ $audit.trustedKeys.existingSecret }}
{{- else if $audit.trustedKeys.existingConfigMap }}
- name: audit-trusted-keys
  configMap:
    name: {{ $audit.trustedKeys.existingConfigMap }}
{{- end }}
{{- end }}

{{- define "swerve.auditVolumeMounts" -}}
{{- $audit := .Values.audit }}
{{- if $audit.signingKey.existingSecret }}
- name: audit-signing-key
  mountPath: {{ include "swerve.auditKeyDir" . }}
  readOnly: true
{{- end }}
{{- if or $audit.trustedKeys.existingSecret $audit.trustedKeys.existingConfigMap }}
- name: audit-trusted-keys
  mountPath: {{ include "swerve.auditTrustedKeysDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* The worker roles the chart can run, in flow order. */}}
{{- define "swerve.roles" -}}screen detect correct{{- end }}

{{/* The Kafka consumer group of a role (its faust app id, SWERVE_WORKER_APP_ID). Call with (dict "root" $ "role" ROLE). */}}
{{- define "swerve.consumerGroup" -}}
{{- $worker := .root.Values.worker }}
{{- ternary (printf "%s-%s" $worker.appId .role) $worker.appId $worker.consumerGroupPerRole }}
{{- end }}

{{/* The topic a role's consumer group reads (streams/agents.py; streams/topics.py names it). Call with (dict "root" $ "role" ROLE). */}}
{{- define "swerve.inputTopic" -}}
{{- $suffix := get (dict "screen" "prompts" "detect" "generations" "correct" "flagged") .role }}
{{- printf "%s.%s" .root.Values.topicPrefix $suffix }}
{{- end }}

{{/* "true" when KEDA scales the role: the global switch, the role's own switch, and the role running. Call with (dict "root" $ "role" ROLE). */}}
{{- define "swerve.kedaScales" -}}
{{- $cfg := index .root.Values .role }}
{{- if and .root.Values.autoscaling.keda.enabled $cfg.enabled $cfg.keda.enabled }}true{{- end }}
{{- end }}

{{/* "true" when the role's CPU HPA is rendered: the fallback, never while KEDA scales the role. Call with (dict "root" $ "role" ROLE). */}}
{{- define "swerve.hpaScales" -}}
{{- $cfg := index .root.Values .role }}
{{- if and $cfg.enabled (hasKey $cfg "autoscaling") (not (include "swerve.kedaScales" .)) }}
{{- if $cfg.autoscaling.enabled }}true{{- end }}
{{- end }}
{{- end }}

{{/*
KEDA's bounds: a consumer group gives work to at most one pod per partition of its topic, so a
maxReplicaCount above topics.partitions could only start idle pods (and, for correct, hold idle GPUs).
*/}}
{{- define "swerve.validateKeda" -}}
{{- range $role := splitList " " (include "swerve.roles" $) }}
{{- $ctx := dict "root" $ "role" $role }}
{{- if include "swerve.kedaScales" $ctx }}
{{- $keda := (index $.Values $role).keda }}
{{- $partitions := int64 $.Values.topics.partitions }}
{{- if gt (int64 $keda.maxReplicaCount) $partitions }}
{{- fail (printf "%s.keda.maxReplicaCount=%d is above topics.partitions=%d: the consumer group %s reads %s, whose %d partitions keep at most %d pods busy. Lower %s.keda.maxReplicaCount or raise topics.partitions (it applies only when the topics are created)" $role (int64 $keda.maxReplicaCount) $partitions (include "swerve.consumerGroup" $ctx) (include "swerve.inputTopic" $ctx) $partitions $partitions $role) }}
{{- end }}
{{- if gt (int64 $keda.minReplicaCount) (int64 $keda.maxReplicaCount) }}
{{- fail (printf "%s.keda.minReplicaCount=%d is above %s.keda.maxReplicaCount=%d" $role (int64 $keda.minReplicaCount) $role (int64 $keda.maxReplicaCount)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* kafka.bootstrap as KEDA's Kafka client wants it: trimmed host:port entries (swerve's client defaults a missing port to 9092; KEDA's needs it written). */}}
{{- define "swerve.kedaBootstrap" -}}
{{- $servers := list }}
{{- range $server := splitList "," .Values.kafka.bootstrap }}
{{- $server = trim $server }}
{{- if $server }}
{{- $servers = append $servers (ternary $server (printf "%s:9092" $server) (regexMatch ":[0-9]+$" $server)) }}
{{- end }}
{{- end }}
{{- join "," $servers }}
{{- end }}

{{/* KEDA's name for the workers' SASL mechanism (its `sasl` trigger parameter). */}}
{{- define "swerve.kedaSasl" -}}
{{- get (dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512") .Values.kafka.saslMechanism }}
{{- end }}

{{/* "true" when KEDA needs a TriggerAuthentication: SASL credentials, or a CA or client certificate from the TLS Secret. */}}
{{- define "swerve.kedaNeedsAuth" -}}
{{- $tls := .Values.kafka.tls }}
{{- if or (hasPrefix "SASL" .Values.kafka.securityProtocol) (and $tls.existingSecret (or $tls.caKey $tls.certKey)) }}true{{- end }}
{{- end }}

{{/* The broker ports for the NetworkPolicy: networkPolicy.kafka.ports, else those in kafka.bootstrap (9092 where none is named), one per line. */}}
{{- define "swerve.kafkaPorts" -}}
{{- $ports := list }}
{{- if .Values.networkPolicy.kafka.ports }}
{{- range .Values.networkPolicy.kafka.ports }}
{{- $ports = append $ports (int64 .) }}
{{- end }}
{{- else }}
{{- range $server := splitList "," .Values.kafka.bootstrap }}
{{- $server = trim $server }}
{{- if $server }}
{{- $port := regexFind ":[0-9]+$" $server | trimPrefix ":" }}
{{- $ports = append $ports (int64 (default "9092" $port)) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $ports | uniq }}
{{ . }}
{{- end }}
{{- end }}

{{/* PromQL label matchers (no braces) that select this release's worker series. */}}
{{- define "swerve.promSelector" -}}
{{- if .Values.prometheusRule.selector }}
{{- .Values.prometheusRule.selector }}
{{- else }}
{{- printf "namespace=%q,job=~%q" .Release.Namespace (printf "%s-(screen|detect|correct)-metrics" (include "swerve.fullname" .)) }}
{{- end }}
{{- end }}

{{/*
One worker Deployment. Call with (dict "root" $ "role" "screen"|"detect"|"correct").
*/}}
{{- define "swerve.workerDeployment" -}}
{{- $root := .root }}
{{- $role := .role }}
{{- $cfg := index $root.Values $role }}
{{- $values := $root.Values }}
{{- include "swerve.validate" $root }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "swerve.fullname" $root }}-{{ $role }}
  labels:
    {{- include "swerve.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $role }}
spec:
  {{- /* An autoscaler owns the replica count; a value here would reset it on every upgrade. */}}
  {{- if not (or (include "swerve.kedaScales" .) (include "swerve.hpaScales" .)) }}
  replicas: {{ $cfg.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- with $cfg.strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "swerve.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/component: {{ $role }}
  template:
    metadata:
      annotations:
        checksum/policy: {{ include (print $root.Template.BasePath "/configmap-policy.yaml") $root | sha256sum }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $cfg.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "swerve.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ $role }}
        app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
        app.kubernetes.io/part-of: swerve
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "swerve.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $values.serviceAccount.automountToken }}
      {{- with $values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $cfg.runtimeClassName }}
      runtimeClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $cfg.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ $role }}
          image: {{ include "swerve.image" $root | quote }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          command: ["swerve"]
          args:
            - worker
            - --role
            - {{ $role }}
            - --metrics-port
            - {{ $values.metrics.port | int64 | quote }}
            - --policy
            - {{ include "swerve.policyPath" $root }}
            - --loglevel
            - {{ $values.logLevel | quote }}
            - --log-format
            - {{ $values.logFormat | quote }}
          env:
            {{- include "swerve.env" $root | nindent 12 }}
            {{- with include "swerve.auditEnv" $root | trim }}
            {{- . | nindent 12 }}
            {{- end }}
            - name: SWERVE_WORKER_APP_ID
              value: {{ include "swerve.consumerGroup" . | quote }}
            {{- with $cfg.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with $values.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - name: metrics
              containerPort: {{ $values.metrics.port }}
              protocol: TCP
          {{- with $values.probes.startup }}
          startupProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $values.probes.liveness }}
          livenessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $values.probes.readiness }}
          readinessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          resources:
            {{- $resources := deepCopy (default dict $cfg.resources) }}
            {{- /* An extended resource is requested by its limit alone (the request equals it). */}}
            {{- $gpuOn := ternary $cfg.gpu.enabled true (hasKey $cfg.gpu "enabled") }}
            {{- if and $gpuOn (gt (int64 (default 0 $cfg.gpu.count)) 0) }}
            {{- $limits := default dict $resources.limits }}
            {{- $_ := set $limits $cfg.gpu.resourceName (int64 $cfg.gpu.count) }}
            {{- $_ := set $resources "limits" $limits }}
            {{- end }}
            {{- toYaml $resources | nindent 12 }}
          securityContext:
            {{- toYaml $values.securityContext | nindent 12 }}
          volumeMounts:
            # subPath, so /etc/swerve stays free for the TLS and audit key mounts beside it; a policy change
            # rolls the pods through checksum/policy instead of a live ConfigMap update.
            - name: policy
              mountPath: {{ include "swerve.policyPath" $root }}
              subPath: policy.yaml
              readOnly: true
            - name: data
              mountPath: {{ include "swerve.dataDir" $root }}
            - name: tmp
              mountPath: /tmp
            {{- if $values.imageStore.existingClaim }}
            - name: image-store
              mountPath: {{ include "swerve.imageStorePath" $root }}
            {{- end }}
            {{- if $values.models.existingClaim }}
            - name: models
              mountPath: {{ $values.models.mountPath }}
              {{- with $values.models.subPath }}
              subPath: {{ . }}
              {{- end }}
              readOnly: true
            {{- end }}
            {{- if $values.kafka.tls.existingSecret }}
            {{- include "swerve.kafkaTlsVolumeMount" $root | nindent 12 }}
            {{- end }}
            {{- with include "swerve.auditVolumeMounts" $root | trim }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: policy
          configMap:
            name: {{ include "swerve.fullname" $root }}-policy
        - name: data
          emptyDir:
            sizeLimit: {{ $values.dataDirSizeLimit }}
        - name: tmp
          emptyDir:
            sizeLimit: {{ $values.tmpSizeLimit }}
        {{- if $values.imageStore.existingClaim }}
        - name: image-store
          persistentVolumeClaim:
            claimName: {{ $values.imageStore.existingClaim }}
        {{- end }}
        {{- if $values.models.existingClaim }}
        - name: models
          persistentVolumeClaim:
            claimName: {{ $values.models.existingClaim }}
            readOnly: true
        {{- end }}
        {{- if $values.kafka.tls.existingSecret }}
        {{- include "swerve.kafkaTlsVolume" $root | nindent 8 }}
        {{- end }}
        {{- with include "swerve.auditVolumes" $root | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $cfg.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
