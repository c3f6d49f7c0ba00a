{{/* The release's objects are named after it: "ray-operator" for a release of that name. */}}
{{- define "ray-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ray-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ray-operator.labels" -}}
{{ include "ray-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ray-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ray-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator's permissions: the rules of config/rbac/operator-role/role.yaml (files/ links to it), so the
     chart and the kustomize install grant exactly the same. */}}
{{- define "ray-operator.rules" -}}
{{- (.Files.Get "files/operator-role.yaml" | fromYaml).rules | toYaml -}}
{{- end -}}

{{- define "ray-operator.leaseName" -}}
{{- default "ray-operator-rs-leader" .Values.leaderElection.id -}}
{{- end -}}

{{- define "ray-operator.webhookSecret" -}}
{{- default (printf "%s-webhook-cert" (include "ray-operator.fullname" .)) .Values.webhook.secretName -}}
{{- end -}}
