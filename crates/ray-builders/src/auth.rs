//! Ray token authentication (`authOptions.mode: token`, Ray 2.52 or later).
//!
//! With token authentication on, Ray refuses every dashboard, GCS and client request that does not carry the
//! cluster's token. Every process that talks to the cluster must therefore hold it: the Ray container of each
//! pod, the `wait-gcs-ready` init container, the autoscaler and the RayJob submitter get `RAY_AUTH_MODE=token` and
//! the token from a Secret (the one named by `authOptions.secretName`, or one the operator generates per cluster,
//! named after it, key `auth_token`). With `enableK8sTokenAuth`, Ray asks the Kubernetes API server to check
//! tokens instead, and each pod presents its ServiceAccount token from a projected volume.
//!
//! Names and keys are KubeRay's, so Secrets, scripts and tools made for KubeRay keep working.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, PodSpec, ProjectedVolumeSource, Secret, SecretKeySelector,
    ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ray_api_v1::raycluster::{AuthMode, AuthOptions, RayClusterSpec};

use crate::context::ClusterContext;
use crate::env;
use crate::labels;

/// Turns Ray's token authentication on (`token`).
pub const RAY_AUTH_MODE: &str = "RAY_AUTH_MODE";
/// The token itself.
pub const RAY_AUTH_TOKEN: &str = "RAY_AUTH_TOKEN";
/// Lets Ray check tokens with the Kubernetes API server.
pub const RAY_ENABLE_K8S_TOKEN_AUTH: &str = "RAY_ENABLE_K8S_TOKEN_AUTH";
/// The key of the token in its Secret.
pub const TOKEN_KEY: &str = "auth_token";
/// The projected ServiceAccount-token volume of Kubernetes token authentication.
pub const TOKEN_VOLUME: &str = "ray-token";
/// Where that volume is mounted.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/ray.io/serviceaccount";
/// The header the dashboard reads the token from (`Bearer <token>`).
pub const TOKEN_HEADER: &str = "x-ray-authorization";
/// How many random bytes a generated token has (base64-encoded in the Secret, as KubeRay does).
pub const GENERATED_TOKEN_BYTES: usize = 32;

/// How a cluster's processes authenticate to Ray.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAuth {
    /// A shared token, read from the `auth_token` key of this Secret.
    Secret {
        /// The Secret's name.
        name: String,
        /// Whether the operator generates the Secret (no `secretName` was given).
        generated: bool,
    },
    /// Each pod's ServiceAccount token, checked by the Kubernetes API server.
    Kubernetes,
}

/// Whether a cluster asks for token authentication: `authOptions` with `mode: token`, or with no mode at all
/// (the API documents `token` as the default, and a user who writes `authOptions` means to turn it on).
pub fn token_auth_enabled(options: Option<&AuthOptions>) -> bool {
    options.is_some_and(|o| o.mode.unwrap_or(AuthMode::Token) == AuthMode::Token)
}

/// How the cluster named `cluster_name` with `spec` authenticates, or `None` without token authentication.
pub fn token_auth(cluster_name: &str, spec: &RayClusterSpec) -> Option<TokenAuth> {
    let options = spec.auth_options.as_ref()?;
    if !token_auth_enabled(Some(options)) {
        return None;
    }
    if options.enable_k8s_token_auth == Some(true) {
        return Some(TokenAuth::Kubernetes);
    }
    Some(
        match options.secret_name.as_deref().filter(|s| !s.is_empty()) {
            Some(name) => TokenAuth::Secret {
                name: name.to_owned(),
                generated: false,
            },
            None => TokenAuth::Secret {
                name: cluster_name.to_owned(),
                generated: true,
            },
        },
    )
}

/// The Secret the operator generates for the cluster's token, without its data: the controller fills the
/// `auth_token` key with fresh random bytes when it creates it (rendering stays deterministic, and `render` never
/// prints a token). `None` unless the cluster uses a generated token.
pub fn generated_secret(ctx: &ClusterContext<'_>) -> Option<Secret> {
    let Some(TokenAuth::Secret {
        name,
        generated: true,
    }) = token_auth(&ctx.name, &ctx.cluster.spec)
    else {
        return None;
    };
    Some(Secret {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(BTreeMap::from([(
                labels::CLUSTER.to_string(),
                ctx.name.clone(),
            )])),
            owner_references: ctx.owner_reference().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    })
}

/// Gives `container` what it needs to talk to an authenticated cluster. Variables the user set win.
pub fn configure_container(auth: &TokenAuth, container: &mut Container) {
    env::push_if_absent(&mut container.env, env::value(RAY_AUTH_MODE, "token"));
    match auth {
        TokenAuth::Secret { name, .. } => env::push_if_absent(
            &mut container.env,
            EnvVar {
                name: RAY_AUTH_TOKEN.to_string(),
                value: None,
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: name.clone(),
                        key: TOKEN_KEY.to_string(),
                        optional: None,
                    }),
                    ..EnvVarSource::default()
                }),
            },
        ),
        TokenAuth::Kubernetes => {
            env::push_if_absent(
                &mut container.env,
                env::value(RAY_ENABLE_K8S_TOKEN_AUTH, "true"),
            );
            let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
            if !mounts.iter().any(|m| m.name == TOKEN_VOLUME) {
                mounts.push(VolumeMount {
                    name: TOKEN_VOLUME.to_string(),
                    mount_path: TOKEN_MOUNT_PATH.to_string(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                });
            }
        }
    }
}

/// Adds the projected ServiceAccount-token volume of Kubernetes token authentication, unless the pod has a
/// volume of that name. Nothing for a shared token.
pub fn add_token_volume(auth: &TokenAuth, spec: &mut PodSpec) {
    if *auth != TokenAuth::Kubernetes {
        return;
    }
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    if volumes.iter().any(|v| v.name == TOKEN_VOLUME) {
        return;
    }
    volumes.push(Volume {
        name: TOKEN_VOLUME.to_string(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(vec![VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    path: "token".to_string(),
                    ..ServiceAccountTokenProjection::default()
                }),
                ..VolumeProjection::default()
            }]),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    });
}

/// Applies authentication to a Ray pod: the Ray container (the first), the autoscaler and `wait-gcs-ready`
/// (other containers, such as users' sidecars, are left as they are), and the token volume.
pub(crate) fn configure_pod(ctx: &ClusterContext<'_>, spec: &mut PodSpec) {
    let Some(auth) = token_auth(&ctx.name, &ctx.cluster.spec) else {
        return;
    };
    for (index, container) in spec.containers.iter_mut().enumerate() {
        if index == 0 || container.name == crate::autoscaler::CONTAINER_NAME {
            configure_container(&auth, container);
        }
    }
    for init in spec.init_containers.iter_mut().flatten() {
        if init.name == crate::pod::WAIT_GCS_READY {
            configure_container(&auth, init);
        }
    }
    add_token_volume(&auth, spec);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(auth: serde_json::Value) -> RayClusterSpec {
        serde_json::from_value(json!({
            "authOptions": auth,
            "headGroupSpec": { "rayStartParams": {}, "template": { "spec": { "containers": [
                { "name": "ray-head", "image": "rayproject/ray:2.60.0" }
            ] } } }
        }))
        .unwrap()
    }

    #[test]
    fn the_mode_decides_and_an_empty_mode_means_token() {
        assert_eq!(token_auth("c", &spec(json!({"mode": "disabled"}))), None);
        let generated = Some(TokenAuth::Secret {
            name: "c".into(),
            generated: true,
        });
        assert_eq!(token_auth("c", &spec(json!({"mode": "token"}))), generated);
        assert_eq!(token_auth("c", &spec(json!({}))), generated);
        assert_eq!(
            token_auth("c", &spec(json!({"mode": "token", "secretName": "mine"}))),
            Some(TokenAuth::Secret {
                name: "mine".into(),
                generated: false
            })
        );
        assert_eq!(
            token_auth(
                "c",
                &spec(json!({"mode": "token", "enableK8sTokenAuth": true}))
            ),
            Some(TokenAuth::Kubernetes)
        );
        let mut none = spec(json!({}));
        none.auth_options = None;
        assert_eq!(token_auth("c", &none), None);
    }

    #[test]
    fn a_container_gets_the_mode_and_the_token_reference_unless_the_user_set_them() {
        let auth = TokenAuth::Secret {
            name: "s".into(),
            generated: false,
        };
        let mut container: Container = serde_json::from_value(json!({
            "name": "ray", "env": [{"name": "RAY_AUTH_MODE", "value": "token"}]
        }))
        .unwrap();
        configure_container(&auth, &mut container);
        configure_container(&auth, &mut container);
        let env = serde_json::to_value(&container.env).unwrap();
        assert_eq!(
            env,
            json!([
                {"name": "RAY_AUTH_MODE", "value": "token"},
                {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "auth_token"}}}
            ])
        );
    }

    /// Every process that talks to the cluster gets the token: the Ray containers, the autoscaler,
    /// `wait-gcs-ready` and the submitter; a user's sidecar does not. The generated Secret is rendered first, and
    /// without a token.
    #[test]
    fn a_rendered_cluster_wires_the_token_into_every_ray_process() {
        let job: ray_api_v1::RayJob = serde_json::from_value(json!({
            "apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": "j", "namespace": "ns"},
            "spec": {
                "entrypoint": "python main.py",
                "rayClusterSpec": {
                    "rayVersion": "2.60.0",
                    "enableInTreeAutoscaling": true,
                    "authOptions": {"mode": "token"},
                    "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                        {"name": "ray-head", "image": "rayproject/ray:2.60.0"},
                        {"name": "sidecar", "image": "busybox"}
                    ]}}},
                    "workerGroupSpecs": [{"groupName": "w", "replicas": 1, "minReplicas": 0, "maxReplicas": 1,
                        "rayStartParams": {},
                        "template": {"spec": {"containers": [{"name": "w", "image": "rayproject/ray:2.60.0"}]}}}]
                }
            }
        }))
        .unwrap();
        let rendered = crate::render_job(&job, &crate::RenderOptions::default()).unwrap();
        let objects: Vec<serde_json::Value> = rendered
            .iter()
            .map(|r| serde_json::to_value(&r.object).unwrap())
            .collect();
        let cluster_name = objects[0]["metadata"]["name"].as_str().unwrap().to_owned();
        let reference = json!({"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": cluster_name, "key": "auth_token"}}});
        let mode = json!({"name": "RAY_AUTH_MODE", "value": "token"});
        let has_token = |container: &serde_json::Value| {
            container["env"]
                .as_array()
                .is_some_and(|env| env.contains(&reference) && env.contains(&mode))
        };
        let secret = &objects[1];
        assert_eq!(secret["kind"], json!("Secret"));
        assert_eq!(secret["metadata"]["name"], json!(cluster_name));
        assert_eq!(secret["data"], json!(null));
        assert_eq!(secret["stringData"], json!(null));
        let mut checked = 0;
        for object in &objects {
            let spec = if object["spec"]["template"].is_object() {
                &object["spec"]["template"]["spec"]
            } else {
                &object["spec"]
            };
            for container in spec["containers"].as_array().into_iter().flatten() {
                let name = container["name"].as_str().unwrap_or_default();
                if name == "sidecar" {
                    assert!(!has_token(container), "a user's sidecar is left alone");
                } else if !name.is_empty() && object["metadata"]["generateName"].is_string()
                    || name == "ray-job-submitter"
                {
                    assert!(has_token(container), "{name}: {container}");
                    checked += 1;
                }
            }
            for init in spec["initContainers"].as_array().into_iter().flatten() {
                assert!(has_token(init), "{init}");
                checked += 1;
            }
        }
        // Head Ray container and autoscaler, worker and its wait-gcs-ready, the submitter.
        assert_eq!(checked, 5);
    }

    #[test]
    fn kubernetes_token_auth_mounts_the_projected_service_account_token() {
        let mut pod = PodSpec {
            containers: vec![Container {
                name: "ray".into(),
                ..Container::default()
            }],
            ..PodSpec::default()
        };
        configure_container(&TokenAuth::Kubernetes, &mut pod.containers[0]);
        add_token_volume(&TokenAuth::Kubernetes, &mut pod);
        add_token_volume(&TokenAuth::Kubernetes, &mut pod);
        let value = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            value["volumes"],
            json!([{"name": "ray-token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}])
        );
        assert_eq!(
            value["containers"][0]["volumeMounts"],
            json!([{"name": "ray-token", "mountPath": TOKEN_MOUNT_PATH, "readOnly": true}])
        );
        assert_eq!(
            value["containers"][0]["env"],
            json!([{"name": "RAY_AUTH_MODE", "value": "token"}, {"name": "RAY_ENABLE_K8S_TOKEN_AUTH", "value": "true"}])
        );
    }
}
