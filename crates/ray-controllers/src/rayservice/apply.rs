//! Carries out a [`Decision`](super::decide::Decision): publishes its Events, makes each change in order (one method per [`Action`], each
//! publishing the Event for its outcome), and writes the status when it changed. Every write names the operator's
//! field manager.

use crate::context::{merge_params, post_params};
use crate::error::ApiError;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use operator_runtime::api_message;
use operator_runtime::events::{Notice, Severity};
use ray_api_v1::raycluster::RayCluster;
use ray_api_v1::rayservice::{RayService, RayServiceStatuses};
use ray_builders::service_cluster::{
    owner_head_service, ray_cluster_for_service, rayservice_serve_service,
};
use ray_builders::{ClusterContext, labels};
use tracing::{info, warn};

use super::Context;
use super::decide::{
    Action, DELETE_AFTER_ANNOTATION, Note, SERVE_CONFIG_HASH_ANNOTATION, changed, with_update_time,
};
use super::error::{Error, RenderError};
use super::events;
use super::observe::{dashboard, selected_cluster};
use crate::context::FIELD_MANAGER;

/// Carries out the decisions about one RayService.
pub struct Applier<'a> {
    ctx: &'a Context,
    service: &'a RayService,
    namespace: String,
    reference: ObjectReference,
    /// The RayService's clusters as observed this pass.
    owned: &'a [RayCluster],
    clusters: Api<RayCluster>,
    pods: Api<Pod>,
    svcs: Api<Service>,
}

impl<'a> Applier<'a> {
    /// An applier for `service`, whose clusters were observed as `owned`.
    pub fn new(ctx: &'a Context, service: &'a RayService, owned: &'a [RayCluster]) -> Self {
        let namespace = service.namespace().unwrap_or_default();
        let api = || ctx.client.clone();
        Applier {
            ctx,
            service,
            reference: service.object_ref(&()),
            owned,
            clusters: Api::namespaced(api(), &namespace),
            pods: Api::namespaced(api(), &namespace),
            svcs: Api::namespaced(api(), &namespace),
            namespace,
        }
    }

    /// Publishes the decision's own Events.
    pub async fn publish(&self, notes: &[Note]) {
        for note in notes {
            let notice = if note.warning {
                Notice::warning(note.reason, events::ACTION, note.message.clone())
            } else {
                Notice::normal(note.reason, events::ACTION, note.message.clone())
            };
            self.event(note.cluster.as_deref(), notice).await;
        }
    }

    /// Makes one change; a failure is also published as a Warning Event.
    pub async fn apply(&self, action: &Action) -> Result<(), Error> {
        match action {
            Action::CreateCluster { name } => self.create_cluster(name).await,
            Action::UpdateCluster { name } => self.update_cluster(name).await,
            Action::ApplyServeConfig {
                cluster,
                config,
                hash,
            } => self.apply_serve_config(cluster, config, hash).await,
            Action::SetHeadServeLabel {
                cluster,
                pod,
                serving,
            } => self.set_head_serve_label(cluster, pod, *serving).await,
            Action::PointServices { cluster } => self.point_services(cluster).await,
            Action::ScheduleClusterDeletion { name, at } => self.schedule_deletion(name, *at).await,
            Action::UnscheduleClusterDeletion { name } => self.unschedule_deletion(name).await,
            Action::DeleteCluster { name } => {
                self.delete_cluster(name, "it no longer serves").await
            }
            Action::DeleteClusterOnSuspend { name } => {
                self.delete_cluster(name, "the RayService is suspended")
                    .await
            }
            Action::DeleteServiceOnSuspend { name } => self.delete_service(name).await,
        }
    }

    /// Writes `status` (with `lastUpdateTime` = `now`) when it differs from the current one.
    pub async fn write_status(
        &self,
        status: &RayServiceStatuses,
        now: Timestamp,
    ) -> Result<(), Error> {
        if !changed(self.service.status.as_ref(), status) {
            return Ok(());
        }
        let name = self.service.name_any();
        let patch = serde_json::json!({
            "apiVersion": "ray.io/v1",
            "kind": "RayService",
            "status": with_update_time(status.clone(), now),
        });
        let services: Api<RayService> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let error = || {
            ApiError::of(
                "writing the status of",
                format!("RayService {}/{name}", self.namespace),
            )
        };
        services
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(error())?;
        // The apply removes a side this status no longer has only where this operator wrote it. Another
        // manager's fields (KubeRay's, after a takeover: it writes both sides always) stay unless removed here.
        let old = self.service.status.as_ref();
        let mut gone = serde_json::Map::new();
        if old.is_some_and(|o| o.active_service_status.is_some())
            && status.active_service_status.is_none()
        {
            gone.insert("activeServiceStatus".into(), serde_json::Value::Null);
        }
        if old.is_some_and(|o| o.pending_service_status.is_some())
            && status.pending_service_status.is_none()
        {
            gone.insert("pendingServiceStatus".into(), serde_json::Value::Null);
        }
        if !gone.is_empty() {
            let patch = serde_json::json!({ "status": gone });
            services
                .patch_status(&name, &merge_params(), &Patch::Merge(&patch))
                .await
                .map_err(error())?;
        }
        Ok(())
    }

    /// Publishes an Event about the RayService (logged with the cluster it concerns).
    async fn event(&self, cluster: Option<&str>, notice: Notice) {
        match notice.severity {
            Severity::Warning => {
                warn!(reason = %notice.reason, note = %notice.note, cluster, "RayService event")
            }
            Severity::Normal => {
                info!(reason = %notice.reason, note = %notice.note, cluster, "RayService event")
            }
        }
        let notice = match cluster {
            Some(cluster) => notice.related_to(cluster_reference(&self.namespace, cluster)),
            None => notice,
        };
        self.ctx.events.publish(&self.reference, notice).await;
    }

    /// Reports a failed write as a Warning Event and returns it as the reconcile's error.
    async fn failed(
        &self,
        cluster: &str,
        reason: &str,
        action: &'static str,
        what: String,
        source: kube::Error,
    ) -> Error {
        let note = format!("{action} {what}: {}", api_message(&source));
        self.event(Some(cluster), Notice::warning(reason, events::ACTION, note))
            .await;
        ApiError {
            action,
            what,
            source,
        }
        .into()
    }

    fn render_error(&self, source: impl Into<RenderError>) -> Error {
        Error::Render {
            service: format!("{}/{}", self.namespace, self.service.name_any()),
            source: source.into(),
        }
    }

    fn cluster_ref(&self, name: &str) -> String {
        format!("RayCluster {}/{name}", self.namespace)
    }

    fn cluster(&self, name: &str) -> Option<&RayCluster> {
        self.owned
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
    }

    /// Sets (or with `None` removes) an annotation on one of the clusters.
    async fn annotate(
        &self,
        cluster: &str,
        key: &str,
        value: Option<String>,
    ) -> Result<(), kube::Error> {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        self.clusters
            .patch(cluster, &merge_params(), &Patch::Merge(&patch))
            .await
            .map(drop)
    }

    async fn create_cluster(&self, name: &str) -> Result<(), Error> {
        let cluster =
            ray_cluster_for_service(self.service, name, &self.ctx.settings.controller.render)
                .map_err(|e| self.render_error(e))?;
        match self.clusters.create(&post_params(), &cluster).await {
            Ok(_) => {
                let note = format!("Created RayCluster {name}");
                self.event(
                    Some(name),
                    Notice::normal(events::CREATED_CLUSTER, events::ACTION, note),
                )
                .await;
                Ok(())
            }
            // Created by an earlier pass whose status write did not land.
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
            Err(source) => Err(self
                .failed(
                    name,
                    events::FAILED_TO_CREATE_CLUSTER,
                    "creating",
                    self.cluster_ref(name),
                    source,
                )
                .await),
        }
    }

    /// Overwrites the cluster's spec and labels with `rayClusterConfig` (worker groups were appended), keeping
    /// what is not the spec's to decide: `suspend` (Kueue or a user may suspend the cluster) and the controller's
    /// own annotations.
    async fn update_cluster(&self, name: &str) -> Result<(), Error> {
        let Some(existing) = self.cluster(name) else {
            return Ok(());
        };
        let mut goal =
            ray_cluster_for_service(self.service, name, &self.ctx.settings.controller.render)
                .map_err(|e| self.render_error(e))?;
        goal.spec.suspend = existing.spec.suspend;
        let mut annotations = goal.metadata.annotations.take().unwrap_or_default();
        for key in [SERVE_CONFIG_HASH_ANNOTATION, DELETE_AFTER_ANNOTATION] {
            if let Some(value) = existing.annotations().get(key) {
                annotations.insert(key.to_owned(), value.clone());
            }
        }
        let mut updated = existing.clone();
        updated.spec = goal.spec;
        updated.metadata.labels = goal.metadata.labels;
        updated.metadata.annotations = Some(annotations);
        updated.status = None;
        match self.clusters.replace(name, &post_params(), &updated).await {
            Ok(_) => {
                let note =
                    format!("Updated RayCluster {name} in place: worker groups were appended");
                self.event(
                    Some(name),
                    Notice::normal(events::UPDATED_CLUSTER, events::ACTION, note),
                )
                .await;
                Ok(())
            }
            Err(source) => Err(self
                .failed(
                    name,
                    events::FAILED_TO_UPDATE_CLUSTER,
                    "updating",
                    self.cluster_ref(name),
                    source,
                )
                .await),
        }
    }

    /// `PUT`s the Serve config to the cluster's dashboard, then records its hash on the cluster (so a restart
    /// neither pushes it again nor forgets that it must).
    async fn apply_serve_config(
        &self,
        cluster: &str,
        config: &serde_json::Value,
        hash: &str,
    ) -> Result<(), Error> {
        let Some(target) = self.cluster(cluster) else {
            return Ok(());
        };
        let (url, put) = match dashboard(&self.ctx.settings, &self.ctx.client, target).await {
            Ok(dashboard) => {
                let put = dashboard.client.put_serve_config(config).await;
                (dashboard.url, put.map_err(|e| refusal(&e)))
            }
            Err(error) => (
                format!("the dashboard of {}", self.cluster_ref(cluster)),
                Err(error.to_string()),
            ),
        };
        if let Err(message) = put {
            let note =
                format!("Applying the Serve config to RayCluster {cluster} failed: {message}");
            self.event(
                Some(cluster),
                Notice::warning(
                    events::FAILED_TO_UPDATE_SERVE_APPLICATIONS,
                    events::ACTION,
                    note,
                ),
            )
            .await;
            return Err(Error::Dashboard { url, message });
        }
        self.annotate(cluster, SERVE_CONFIG_HASH_ANNOTATION, Some(hash.to_owned()))
            .await
            .map_err(ApiError::of(
                "recording the applied Serve config on",
                self.cluster_ref(cluster),
            ))?;
        let note = format!(
            "Applied the Serve config (applications: {}) to RayCluster {cluster}",
            application_names(config).join(", ")
        );
        self.event(
            Some(cluster),
            Notice::normal(events::UPDATED_SERVE_APPLICATIONS, events::ACTION, note),
        )
        .await;
        Ok(())
    }

    async fn set_head_serve_label(
        &self,
        cluster: &str,
        pod: &str,
        serving: bool,
    ) -> Result<(), Error> {
        let patch =
            serde_json::json!({"metadata": {"labels": {labels::SERVE: serving.to_string()}}});
        match self
            .pods
            .patch(pod, &merge_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                let note = format!(
                    "Set {}={serving} on head pod {pod} of RayCluster {cluster}: its Serve proxy is {}",
                    labels::SERVE,
                    if serving { "healthy" } else { "not healthy" }
                );
                self.event(
                    Some(cluster),
                    Notice::normal(events::UPDATED_HEAD_POD_SERVE_LABEL, events::ACTION, note),
                )
                .await;
                Ok(())
            }
            // The pod is gone; the next pass sees its successor.
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(source) => Err(self
                .failed(
                    cluster,
                    events::FAILED_TO_UPDATE_HEAD_POD_SERVE_LABEL,
                    "labelling",
                    format!("pod {}/{pod}", self.namespace),
                    source,
                )
                .await),
        }
    }

    /// Creates or updates the serve Service and the RayService's head Service so that they select `cluster`.
    async fn point_services(&self, cluster: &str) -> Result<(), Error> {
        let Some(target) = self.cluster(cluster) else {
            return Ok(());
        };
        let ctx = ClusterContext::new(target, &self.ctx.settings.controller.render)
            .map_err(|e| self.render_error(e))?;
        let serve =
            rayservice_serve_service(&ctx, self.service).map_err(|e| self.render_error(e))?;
        let head = owner_head_service(&ctx, labels::CRD_RAY_SERVICE, &self.service.metadata)
            .map_err(|e| self.render_error(e))?;
        let mut done = Vec::new();
        let mut created = false;
        let mut from = None;
        for svc in [serve, head] {
            let svc_name = svc.name_any();
            // Only for the Event (created or moved from which cluster); the apply below does not depend on it.
            let before = self.svcs.get_opt(&svc_name).await.ok().flatten();
            let applied = self
                .svcs
                .patch(
                    &svc_name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&svc),
                )
                .await;
            if let Err(source) = applied {
                return Err(self
                    .failed(
                        cluster,
                        events::FAILED_TO_UPDATE_SERVICE,
                        "applying",
                        format!("Service {}/{svc_name}", self.namespace),
                        source,
                    )
                    .await);
            }
            created |= before.is_none();
            from = from.or_else(|| selected_cluster(before.as_ref()));
            let how = if before.is_some() {
                "updated"
            } else {
                "created"
            };
            done.push(format!("{svc_name} ({how})"));
        }
        let from = from
            .filter(|c| c != cluster)
            .map(|c| format!(", moved from RayCluster {c}"))
            .unwrap_or_default();
        let reason = if created {
            events::CREATED_SERVICE
        } else {
            events::UPDATED_SERVICE
        };
        let note = format!(
            "Services {} select RayCluster {cluster}{from}",
            done.join(" and ")
        );
        self.event(Some(cluster), Notice::normal(reason, events::ACTION, note))
            .await;
        Ok(())
    }

    async fn schedule_deletion(&self, name: &str, at: Timestamp) -> Result<(), Error> {
        match self
            .annotate(name, DELETE_AFTER_ANNOTATION, Some(at.to_string()))
            .await
        {
            Ok(()) => {}
            // Already gone: nothing left to schedule.
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(source) => {
                return Err(ApiError {
                    action: "scheduling the deletion of",
                    what: self.cluster_ref(name),
                    source,
                }
                .into());
            }
        }
        let note = format!("RayCluster {name} no longer serves; it will be deleted at {at}");
        self.event(
            Some(name),
            Notice::normal(events::SCHEDULED_CLUSTER_DELETION, events::ACTION, note),
        )
        .await;
        Ok(())
    }

    async fn unschedule_deletion(&self, name: &str) -> Result<(), Error> {
        Ok(self
            .annotate(name, DELETE_AFTER_ANNOTATION, None)
            .await
            .map_err(ApiError::of(
                "cancelling the deletion of",
                self.cluster_ref(name),
            ))?)
    }

    /// Deletes a cluster; `why` ends the Event's note.
    async fn delete_cluster(&self, name: &str, why: &str) -> Result<(), Error> {
        match self
            .clusters
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => {
                let note = format!("Deleted RayCluster {name}: {why}");
                self.event(
                    Some(name),
                    Notice::normal(events::DELETED_CLUSTER, events::ACTION, note),
                )
                .await;
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(source) => Err(self
                .failed(
                    name,
                    events::FAILED_TO_DELETE_CLUSTER,
                    "deleting",
                    self.cluster_ref(name),
                    source,
                )
                .await),
        }
    }

    /// Deletes the RayService's serve or head Service (the RayService is suspended). Its Events name the Service
    /// as their related object, so those about the two Services are not merged into one series.
    async fn delete_service(&self, name: &str) -> Result<(), Error> {
        let related = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            name: Some(name.to_owned()),
            namespace: Some(self.namespace.clone()),
            ..Default::default()
        };
        match self.svcs.delete(name, &DeleteParams::background()).await {
            Ok(_) => {
                let note = format!("Deleted Service {name}: the RayService is suspended");
                let notice = Notice::normal(events::DELETED_SERVICE, events::ACTION, note);
                self.event(None, notice.related_to(related)).await;
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(source) => {
                let what = format!("Service {}/{name}", self.namespace);
                let note = format!("deleting {what}: {}", api_message(&source));
                let notice =
                    Notice::warning(events::FAILED_TO_DELETE_SERVICE, events::ACTION, note);
                self.event(None, notice.related_to(related)).await;
                Err(ApiError {
                    action: "deleting",
                    what,
                    source,
                }
                .into())
            }
        }
    }
}

/// The applications a Serve config names (an unnamed one is `default`, as Serve calls it).
fn application_names(config: &serde_json::Value) -> Vec<String> {
    config["applications"]
        .as_array()
        .map(|apps| {
            apps.iter()
                .map(|app| app["name"].as_str().unwrap_or("default").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Why Ray did not take a Serve config, for the Event and the error.
fn refusal(error: &ray_dashboard_client::Error) -> String {
    match error {
        ray_dashboard_client::Error::Status {
            status,
            message,
            body,
            ..
        } => format!(
            "Ray answered {status}: {}",
            rejection(*status, message, body)
        ),
        other => other.to_string(),
    }
}

/// What to show of Ray's answer to a rejected config: a 4xx body is a short validation report (pydantic's lines
/// name the field, and its last line is only a link), so all of it, on one line; for a 5xx, the exception line.
fn rejection(status: u16, message: &str, body: &str) -> String {
    if status >= 500 {
        return message.to_owned();
    }
    let lines: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        message.to_owned()
    } else {
        lines.join(" / ")
    }
}

/// The reference to a RayCluster in the RayService's namespace, for an Event's `related` object.
fn cluster_reference(
    namespace: &str,
    cluster: &str,
) -> k8s_openapi::api::core::v1::ObjectReference {
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("ray.io/v1".into()),
        kind: Some("RayCluster".into()),
        name: Some(cluster.to_owned()),
        namespace: Some(namespace.to_owned()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_report_is_shown_whole_and_a_server_error_by_its_exception() {
        let body = "2 validation errors\napplications.0.import_path\n  field required\n\nhttps://errors.pydantic.dev\n";
        assert_eq!(
            rejection(400, "https://errors.pydantic.dev", body),
            "2 validation errors / applications.0.import_path / field required / https://errors.pydantic.dev"
        );
        assert_eq!(
            rejection(500, "RuntimeError: boom", "Traceback\nRuntimeError: boom"),
            "RuntimeError: boom"
        );
        assert_eq!(rejection(400, "bad", "  \n"), "bad");
    }

    #[test]
    fn applications_are_named_as_serve_names_them() {
        let config = serde_json::json!({"applications": [{"name": "a"}, {"import_path": "x:app"}]});
        assert_eq!(application_names(&config), ["a", "default"]);
        assert!(application_names(&serde_json::json!({})).is_empty());
    }
}
