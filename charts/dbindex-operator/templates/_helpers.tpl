{{/* The chart name, or nameOverride. */}}
{{- define "dbindex-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: fullnameOverride, else the release name (with the chart name unless the
release name already contains it). */}}
{{- define "dbindex-operator.fullname" -}}
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

{{- define "dbindex-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dbindex-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dbindex-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dbindex-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dbindex-operator
{{- end }}

{{- define "dbindex-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dbindex-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dbindex-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* RBAC rules for the operator's own work on DatabaseIndex objects, Secrets and Events: in a
ClusterRole when watching all namespaces, in a Role per namespace otherwise. */}}
{{- define "dbindex-operator.applicationRules" -}}
# The operator's own objects: list+watch feed Kopf's watch stream; get re-reads one object;
# patch adds/removes the finalizer dbindex.dev/finalizer and Kopf's annotations (the finalizer
# is a metadata field: no databaseindexes/finalizers rule is needed).
- apiGroups: [dbindex.dev]
  resources: [databaseindexes]
  verbs: [get, list, watch, patch]
# The status subresource: conditions, phase, progress, observedGeneration.
- apiGroups: [dbindex.dev]
  resources: [databaseindexes/status]
  verbs: [patch]
# The connection Secret each DatabaseIndex names, read by name in the object's namespace.
# Only get: the operator never lists, watches or changes Secrets.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# Events about DatabaseIndex objects (core v1 API).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
