{{- define "mert.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mert.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mert.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "mert.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* selector labels of one role: (dict "ctx" $ "role" "coordinator") */}}
{{- define "mert.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mert.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "mert.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mert.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mert.coordinatorService" -}}{{ include "mert.fullname" . }}-coordinator{{- end }}
{{- define "mert.workersService" -}}{{ include "mert.fullname" . }}-workers{{- end }}

{{/* The coordinator pod's stable DNS name (StatefulSet pod 0 under its headless Service): the
     address it advertises and the seed node every worker joins. */}}
{{- define "mert.coordinatorHost" -}}
{{ include "mert.fullname" . }}-coordinator-0.{{ include "mert.coordinatorService" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end }}

{{- define "mert.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end }}

{{- define "mert.workerImage" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.gpu.enabled -}}
{{ default .Values.image.repository .Values.gpu.repository }}:{{ $tag }}{{ .Values.gpu.tagSuffix }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end }}
{{- end }}

{{- define "mert.claimName" -}}
{{- $v := index .ctx.Values.volumes .volume -}}
{{- default (printf "%s-%s" (include "mert.fullname" .ctx) .volume) $v.existingClaim -}}
{{- end }}

{{/* The training config as rendered into the ConfigMap: values.config with the keys that must
     agree with the deployment set from the volumes and the worker count. */}}
{{- define "mert.trainConfig" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $task := merge (dict "data" (printf "%s/%s" .Values.volumes.dataset.mountPath .Values.volumes.dataset.manifestSubPath) "label_dir" .Values.volumes.labels.mountPath) (default (dict) $cfg.task) -}}
{{- $_ := set $task "data" (printf "%s/%s" .Values.volumes.dataset.mountPath .Values.volumes.dataset.manifestSubPath) -}}
{{- $_ := set $task "label_dir" .Values.volumes.labels.mountPath -}}
{{- $_ := set $cfg "task" $task -}}
{{- $ckpt := default (dict) $cfg.checkpoint -}}
{{- $_ := set $ckpt "save_dir" .Values.volumes.run.mountPath -}}
{{- $_ := set $cfg "checkpoint" $ckpt -}}
{{- $dist := default (dict) $cfg.distributed_training -}}
{{- $_ := set $dist "distributed_world_size" (int .Values.workers.replicas) -}}
{{- $_ := set $cfg "distributed_training" $dist -}}
{{- toYaml $cfg -}}
{{- end }}

{{/* JVM flags every mert process runs with, then the role's own. */}}
{{- define "mert.jvmArgs" -}}
- --add-exports
- java.base/jdk.internal.misc=ALL-UNNAMED
- -Djava.io.tmpdir=/tmp
- -Dorg.bytedeco.javacpp.cachedir=/tmp/javacpp
{{- range .options }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{- define "mert.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
{{- end }}

{{- define "mert.podAnnotations" -}}
checksum/config: {{ include "mert.trainConfig" . | sha256sum }}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.http | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* The data volumes both roles mount (dataset, labels, run directory, config, /tmp). */}}
{{- define "mert.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "mert.fullname" . }}-config
- name: run
  persistentVolumeClaim:
    claimName: {{ include "mert.claimName" (dict "ctx" . "volume" "run") }}
- name: dataset
  persistentVolumeClaim:
    claimName: {{ include "mert.claimName" (dict "ctx" . "volume" "dataset") }}
    readOnly: {{ .Values.volumes.dataset.readOnly }}
- name: labels
  persistentVolumeClaim:
    claimName: {{ include "mert.claimName" (dict "ctx" . "volume" "labels") }}
    readOnly: {{ .Values.volumes.labels.readOnly }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.volumes.tmpSize }}
{{- if .Values.tls.secretName }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "mert.commonMounts" -}}
- name: config
  mountPath: /etc/mert
  readOnly: true
- name: run
  mountPath: {{ .Values.volumes.run.mountPath }}
- name: dataset
  mountPath: {{ .Values.volumes.dataset.mountPath }}
  readOnly: {{ .Values.volumes.dataset.readOnly }}
- name: labels
  mountPath: {{ .Values.volumes.labels.mountPath }}
  readOnly: {{ .Values.volumes.labels.readOnly }}
- name: tmp
  mountPath: /tmp
{{- if .Values.tls.secretName }}
- name: tls
  mountPath: {{ .Values.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/* How the pods protect their cluster connections: mutual TLS from the Secret, or plain TCP when asked. */}}
{{- define "mert.tlsArgs" -}}
{{- if and .Values.tls.secretName .Values.tls.insecurePlaintext -}}
{{- fail "tls.secretName and tls.insecurePlaintext exclude each other: choose one" -}}
{{- else if .Values.tls.secretName -}}
- --tls-dir
- {{ .Values.tls.mountPath | quote }}
{{- else if .Values.tls.insecurePlaintext -}}
- --insecure-plaintext
{{- else -}}
{{- fail "set tls.secretName to a Secret made from `mert certs --out DIR` (keys node.p12, truststore.p12, password) for mutual TLS between the pods, or tls.insecurePlaintext=true on a network you trust" -}}
{{- end -}}
{{- end }}
