{{- /*
The operator's units as a JSON list: one {name} without `shards`, else one
{name: <fullname>-<shard>, shard, selector, namespaces} per shard. Each unit is a Deployment (deployment.yaml)
with its own peering object and PodDisruptionBudget (pdb.yaml).
*/}}
{{- define "dbindex-operator.units" -}}
{{- $fullname := include "dbindex-operator.fullname" . }}
{{- $units := list }}
{{- $seen := dict }}
{{- range .Values.shards }}
{{- if hasKey $seen .name }}
{{- fail (printf "shards: the name %q is used twice" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- $units = append $units (dict "name" (printf "%s-%s" $fullname .name | trunc 63 | trimSuffix "-") "shard" .name "selector" (default "" .selector) "namespaces" (default list .namespaces)) }}
{{- else }}
{{- $units = append $units (dict "name" $fullname) }}
{{- end }}
{{- toJson $units }}
{{- end }}
