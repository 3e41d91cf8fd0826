{{/*
Names. The full name is capped at 40 characters so that "<fullname>-bank-hash-verifier" stays a
valid Service name and StatefulSet pods keep their controller-revision label under 63 characters.
*/}}
{{- define "testnet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "testnet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "testnet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The roles: the values key of each, its component name (its folder under services/, also the
image's role argument) and its workload kind.
*/}}
{{- define "testnet.roles" -}}
proposer: {component: proposer, kind: Deployment}
leader: {component: leader, kind: StatefulSet}
executor: {component: executor, kind: StatefulSet}
voteAggregator: {component: vote-aggregator, kind: Deployment}
bankHashVerifier: {component: bank-hash-verifier, kind: Deployment}
{{- end -}}

{{/* Selector labels; dict with "root" (the top context) and "component". */}}
{{- define "testnet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "testnet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label of a resource; dict with "root" and "component". */}}
{{- define "testnet.labels" -}}
helm.sh/chart: {{ include "testnet.chart" .root }}
{{ include "testnet.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: simd23
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* Labels of a pod template: no chart version, so a chart release alone restarts nothing. */}}
{{- define "testnet.podLabels" -}}
{{ include "testnet.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: simd23
{{- end -}}

{{/* The image of a role; dict with "root" and "values" (the role's block). */}}
{{- define "testnet.image" -}}
{{- $global := .root.Values.image -}}
{{- $own := .values.image -}}
{{- $repository := $own.repository | default $global.repository -}}
{{- $digest := $own.digest | default $global.digest -}}
{{- if $digest -}}
{{- printf "%s@%s" $repository $digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($own.tag | default $global.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "testnet.imagePullPolicy" -}}
{{- .values.image.pullPolicy | default .root.Values.image.pullPolicy -}}
{{- end -}}

{{/*
Genesis. The parameters `simd23 genesis --params` reads, without the start time: the validators
are the executors, the first `leader.replicaCount` of them run a leader, the proposer pool has
`proposer.poolSize` keys. Compact JSON with sorted keys, so its hash is stable.
*/}}
{{- define "testnet.genesisParameters" -}}
{{- $genesis := .Values.genesis -}}
{{- toJson (dict
  "clusterName" ($genesis.clusterName | default .Release.Name)
  "mode" $genesis.mode
  "validators" (int .Values.executor.replicaCount)
  "leaders" (int .Values.leader.replicaCount)
  "proposerPool" (int .Values.proposer.poolSize)
  "stake" $genesis.stakePerValidator
  "faucetLamports" $genesis.faucetLamports
  "timing" $genesis.timing) -}}
{{- end -}}

{{/*
Everything the genesis follows from, hashed: the parameters, an explicit start time, where the
cluster seed comes from, and an explicit namespace (fresh streams need a fresh start time). Pods carry it as an annotation, so a new genesis restarts them all,
and the genesis ConfigMap keeps its start time only while it is unchanged. The proposer replica
count is not among the inputs: proposers scale without a new genesis.
*/}}
{{- define "testnet.genesisInputsChecksum" -}}
{{- list
  (include "testnet.genesisParameters" .)
  (int64 .Values.genesis.startTimeMs)
  .Values.clusterSeed.value
  .Values.clusterSeed.existingSecret
  .Values.clusterSeed.existingSecretKey
  .Values.namespace
  | toJson | sha256sum -}}
{{- end -}}

{{/*
The passwords given as values, hashed: pods read credentials from the Secret only when they start,
so a changed password restarts NATS, Redis and the roles. Generated passwords never change.
*/}}
{{- define "testnet.credentialsChecksum" -}}
{{- list .Values.nats.auth.password .Values.redis.auth.password | toJson | sha256sum -}}
{{- end -}}

{{- define "testnet.genesisConfigMapName" -}}
{{- printf "%s-genesis" (include "testnet.fullname" .) -}}
{{- end -}}

{{/* The Secret holding generated credentials (and the cluster seed unless it comes from elsewhere). */}}
{{- define "testnet.credentialsSecretName" -}}
{{- printf "%s-credentials" (include "testnet.fullname" .) -}}
{{- end -}}

{{- define "testnet.clusterSeedSecretRef" -}}
{{- if .Values.clusterSeed.existingSecret -}}
name: {{ .Values.clusterSeed.existingSecret }}
key: {{ .Values.clusterSeed.existingSecretKey }}
{{- else -}}
name: {{ include "testnet.credentialsSecretName" . }}
key: cluster-seed
{{- end -}}
{{- end -}}

{{/*
NATS and Redis connection variables. Credentials come from Secrets into variables without the
SIMD23_ prefix (the service kit reports unknown SIMD23_ variables as likely typos), and
Kubernetes expands them into the URLs, so no URL with a password is ever stored.
*/}}
{{- define "testnet.natsEnv" -}}
{{- if .Values.nats.enabled -}}
- name: NATS_USER
  value: {{ .Values.nats.auth.user | quote }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "testnet.credentialsSecretName" . }}
      key: nats-password
- name: SIMD23_NATS_URL
  value: {{ printf "nats://$(NATS_USER):$(NATS_PASSWORD)@%s-nats:4222" (include "testnet.fullname" .) | quote }}
{{- else -}}
{{- $external := .Values.externalNats -}}
{{- if $external.existingSecret -}}
- name: NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ $external.existingSecret }}
      key: {{ $external.userKey }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $external.existingSecret }}
      key: {{ $external.passwordKey }}
{{- $urls := list -}}
{{- range splitList "," $external.url -}}
{{- $url := urlParse . -}}
{{- $urls = append $urls (printf "%s://$(NATS_USER):$(NATS_PASSWORD)@%s" $url.scheme $url.host) -}}
{{- end }}
- name: SIMD23_NATS_URL
  value: {{ join "," $urls | quote }}
{{- else -}}
- name: SIMD23_NATS_URL
  value: {{ $external.url | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "testnet.redisEnv" -}}
{{- if .Values.redis.enabled -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "testnet.credentialsSecretName" . }}
      key: redis-password
- name: SIMD23_REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s-redis:6379" (include "testnet.fullname" .) | quote }}
{{- else -}}
{{- $external := .Values.externalRedis -}}
{{- if $external.existingSecret -}}
{{- $user := "" -}}
{{- if $external.userKey }}
- name: REDIS_USER
  valueFrom:
    secretKeyRef:
      name: {{ $external.existingSecret }}
      key: {{ $external.userKey }}
{{- $user = "$(REDIS_USER)" -}}
{{- end }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $external.existingSecret }}
      key: {{ $external.passwordKey }}
{{- $url := urlParse $external.url }}
- name: SIMD23_REDIS_URL
  value: {{ printf "%s://%s:$(REDIS_PASSWORD)@%s%s" $url.scheme $user $url.host $url.path | quote }}
{{- else }}
- name: SIMD23_REDIS_URL
  value: {{ $external.url | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Refusals of value combinations the schema cannot express; rendered by the genesis ConfigMap. */}}
{{- define "testnet.checks" -}}
{{- if gt (int .Values.leader.replicaCount) (int .Values.executor.replicaCount) -}}
{{- fail (printf "leader.replicaCount (%d) must not exceed executor.replicaCount (%d): leader j produces the blocks of validator j, and the validators are the executors" (int .Values.leader.replicaCount) (int .Values.executor.replicaCount)) -}}
{{- end -}}
{{- if ge (int .Values.proposer.replicaCount) (int .Values.proposer.poolSize) -}}
{{- fail (printf "proposer.replicaCount (%d) must be below proposer.poolSize (%d): every proposer replica claims a key of the genesis pool, and a rolling update starts one replica more" (int .Values.proposer.replicaCount) (int .Values.proposer.poolSize)) -}}
{{- end -}}
{{- if and (not .Values.nats.enabled) (not .Values.externalNats.url) -}}
{{- fail "externalNats.url is required when nats.enabled is false" -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.url) -}}
{{- fail "externalRedis.url is required when redis.enabled is false" -}}
{{- end -}}
{{- end -}}

{{/*
The pod template of a role; dict with "root", "key" (the role's values key). Every role runs the
same image with its component name as argument, after an init container that writes the genesis.
*/}}
{{- define "testnet.podTemplate" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .key -}}
{{- $role := index (include "testnet.roles" $root | fromYaml) .key -}}
{{- $ctx := dict "root" $root "component" $role.component "values" $values -}}
{{- $image := include "testnet.image" $ctx -}}
{{- $pullPolicy := include "testnet.imagePullPolicy" $ctx -}}
{{- $grpcPort := int $root.Values.ports.grpc -}}
metadata:
  labels:
    {{- include "testnet.podLabels" $ctx | nindent 4 }}
  annotations:
    simd23.io/genesis-inputs: {{ include "testnet.genesisInputsChecksum" $root }}
    simd23.io/credentials: {{ include "testnet.credentialsChecksum" $root }}
    {{- with $values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  enableServiceLinks: false
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ add (div (add (int $root.Values.shutdownDeadlineMs) 999) 1000) 5 }}
  initContainers:
    - name: genesis
      image: {{ $image }}
      imagePullPolicy: {{ $pullPolicy }}
      args: [simd23, genesis, --params, /etc/simd23/genesis-parameters/params.json, --out, /genesis/genesis.json]
      env:
        - name: SIMD23_CLUSTER_SEED
          valueFrom:
            secretKeyRef:
              {{- include "testnet.clusterSeedSecretRef" $root | nindent 14 }}
      {{- with $values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: genesis
          mountPath: /genesis
        - name: genesis-parameters
          mountPath: /etc/simd23/genesis-parameters
          readOnly: true
        - name: tmp
          mountPath: /tmp
  containers:
    - name: {{ $role.component }}
      image: {{ $image }}
      imagePullPolicy: {{ $pullPolicy }}
      args: [{{ $role.component }}]
      ports:
        - name: grpc
          containerPort: {{ $grpcPort }}
          protocol: TCP
        - name: metrics
          containerPort: {{ int $root.Values.ports.metrics }}
          protocol: TCP
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: SIMD23_GENESIS
          value: /genesis/genesis.json
        - name: SIMD23_CLUSTER_SEED
          valueFrom:
            secretKeyRef:
              {{- include "testnet.clusterSeedSecretRef" $root | nindent 14 }}
        - name: SIMD23_NAMESPACE
          valueFrom:
            configMapKeyRef:
              name: {{ include "testnet.genesisConfigMapName" $root }}
              key: namespace
        {{- include "testnet.natsEnv" $root | trim | nindent 8 }}
        {{- include "testnet.redisEnv" $root | trim | nindent 8 }}
        - name: SIMD23_GRPC_PORT
          value: {{ $grpcPort | quote }}
        - name: SIMD23_METRICS_PORT
          value: {{ int $root.Values.ports.metrics | quote }}
        - name: SIMD23_LOG_LEVEL
          value: {{ $root.Values.logLevel | quote }}
        - name: SIMD23_SHUTDOWN_DEADLINE_MS
          value: {{ int $root.Values.shutdownDeadlineMs | quote }}
        {{- if eq $role.kind "StatefulSet" }}
        - name: SIMD23_REPLICA_ORDINAL
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- end }}
        {{- if eq .key "proposer" }}
        - name: POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        - name: SIMD23_ADVERTISE_ADDRESS
          value: {{ printf "$(POD_IP):%d" $grpcPort | quote }}
        {{- end }}
        {{- with $root.Values.tracing }}
        {{- if .otlpEndpoint }}
        - name: OTEL_EXPORTER_OTLP_ENDPOINT
          value: {{ .otlpEndpoint | quote }}
        - name: OTEL_TRACES_SAMPLER
          value: parentbased_traceidratio
        - name: OTEL_TRACES_SAMPLER_ARG
          value: {{ .sampleRatio | toString | quote }}
        - name: OTEL_RESOURCE_ATTRIBUTES
          value: "k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME),service.instance.id=$(POD_NAME)"
        {{- end }}
        {{- end }}
        {{- with $values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        grpc:
          port: {{ $grpcPort }}
          service: liveness
        {{- toYaml $values.probes.startup | nindent 8 }}
      readinessProbe:
        grpc:
          port: {{ $grpcPort }}
          service: ""
        {{- toYaml $values.probes.readiness | nindent 8 }}
      livenessProbe:
        grpc:
          port: {{ $grpcPort }}
          service: liveness
        {{- toYaml $values.probes.liveness | nindent 8 }}
      {{- with $values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: genesis
          mountPath: /genesis
          readOnly: true
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: genesis
      emptyDir:
        sizeLimit: 16Mi
    - name: genesis-parameters
      configMap:
        name: {{ include "testnet.genesisConfigMapName" $root }}
        items:
          - key: params.json
            path: params.json
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
A role's workload, Service and PodDisruptionBudget; dict with "root" and "key". StatefulSets get
a headless Service that also lists unready pods, so peers and scrapers reach every ordinal.
*/}}
{{- define "testnet.role" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .key -}}
{{- $role := index (include "testnet.roles" $root | fromYaml) .key -}}
{{- $ctx := dict "root" $root "component" $role.component -}}
{{- $name := printf "%s-%s" (include "testnet.fullname" $root) $role.component -}}
apiVersion: apps/v1
kind: {{ $role.kind }}
metadata:
  name: {{ $name }}
  labels:
    {{- include "testnet.labels" $ctx | nindent 4 }}
spec:
  replicas: {{ int $values.replicaCount }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "testnet.selectorLabels" $ctx | nindent 6 }}
  {{- if eq $role.kind "StatefulSet" }}
  serviceName: {{ $name }}
  # Ordinals are identities, not a start order: every validator may start at once.
  podManagementPolicy: Parallel
  updateStrategy:
    type: RollingUpdate
  {{- else }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  {{- end }}
  template:
    {{- include "testnet.podTemplate" (dict "root" $root "key" .key) | nindent 4 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "testnet.labels" $ctx | nindent 4 }}
  {{- with ($values.service).annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if eq $role.kind "StatefulSet" }}
  clusterIP: None
  publishNotReadyAddresses: true
  {{- else }}
  type: {{ ($values.service).type | default "ClusterIP" }}
  {{- end }}
  selector:
    {{- include "testnet.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: grpc
      port: {{ int $root.Values.ports.grpc }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ int $root.Values.ports.metrics }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
{{- if $values.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "testnet.labels" $ctx | nindent 4 }}
spec:
  maxUnavailable: {{ $values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "testnet.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- end -}}
