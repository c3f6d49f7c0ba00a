//! The API server's rules for what the operator turns into Pods: pod templates (containers and init containers,
//! their names, images, ports, environment, resources and volume mounts; volumes; labels and annotations) and the
//! autoscaler container's fields.
//!
//! The API server checks these only when the operator creates a Pod, long after `kubectl apply` succeeded; checking
//! them here reports the mistake on the RayCluster, RayJob or RayService itself, naming the field.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, PodTemplateSpec, Volume, VolumeMount,
};

use super::FieldError;
use super::metadata::check_metadata;
use super::names::{
    config_key_problem, dns1123_label_problem, dns1123_subdomain_problem, env_var_name_problem,
    port_name_problem,
};
use super::resources::check_resources;
use crate::raycluster::AutoscalerOptions;

/// The protocols of container and Service ports.
pub(crate) const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];

/// What the operator adds to a pod template, which the template's own fields may refer to or must not clash with.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Additions<'a> {
    /// Volumes the operator may add (a container may mount them without declaring them).
    pub volumes: &'a [&'a str],
    /// Container names the operator uses in this pod; a user container may not take them.
    pub containers: &'a [&'a str],
}

/// Checks a port's name at `at` (`...ports[i].name`): a valid name, and unique among `names`, the names already
/// seen on the same `owner` ("container" or "Service"). As the API server checks them, a container's port name is
/// an IANA service name (at most 15 characters, a letter among them) and a Service's a DNS-1123 label (at most 63).
pub(crate) fn check_port_name<'a>(
    name: &'a str,
    at: &str,
    owner: &str,
    names: &mut BTreeSet<&'a str>,
    errors: &mut Vec<FieldError>,
) {
    let problem = if owner == "Service" {
        dns1123_label_problem(name)
    } else {
        port_name_problem(name)
    };
    if let Some(problem) = problem {
        errors.push(FieldError::new(
            format!("{at}.name"),
            format!("\"{name}\" is not a valid port name: {problem}"),
        ));
    } else if !names.insert(name) {
        errors.push(FieldError::new(
            format!("{at}.name"),
            format!(
                "another port of this {owner} is also named \"{name}\": port names must be unique; rename one of them"
            ),
        ));
    }
}

/// Why `port` is not a port number (1-65535), or `None`.
pub(crate) fn port_number_problem(port: i32) -> Option<String> {
    (!(1..=65535).contains(&port)).then(|| format!("must be between 1 and 65535, but it is {port}"))
}

/// Checks a pod template at `path` (for example `spec.workerGroupSpecs[0].template`).
pub(crate) fn check_pod_template(
    template: &PodTemplateSpec,
    path: &str,
    additions: Additions<'_>,
    errors: &mut Vec<FieldError>,
) {
    if let Some(metadata) = &template.metadata {
        check_metadata(metadata, &format!("{path}.metadata"), errors);
    }
    let Some(spec) = &template.spec else {
        return;
    };
    let spec_path = format!("{path}.spec");
    let mut volumes = check_volumes(
        spec.volumes.as_deref().unwrap_or_default(),
        &spec_path,
        errors,
    );
    volumes.extend(additions.volumes.iter().copied());

    let mut names: BTreeMap<&str, String> = BTreeMap::new();
    let init = spec.init_containers.as_deref().unwrap_or_default();
    for (field, list) in [
        ("containers", spec.containers.as_slice()),
        ("initContainers", init),
    ] {
        for (i, container) in list.iter().enumerate() {
            let at = format!("{spec_path}.{field}[{i}]");
            check_container_name(container, &at, &mut names, additions, errors);
            check_container(container, &at, &volumes, errors);
        }
    }
    check_host_ports(&spec.containers, &spec_path, errors);
}

/// Container names: DNS-1123 labels, unique across containers and init containers, and not one the operator uses.
fn check_container_name<'a>(
    container: &'a Container,
    at: &str,
    names: &mut BTreeMap<&'a str, String>,
    additions: Additions<'_>,
    errors: &mut Vec<FieldError>,
) {
    let name = container.name.as_str();
    let path = format!("{at}.name");
    if name.is_empty() {
        errors.push(FieldError::new(
            path,
            "a container needs a name: set name (lowercase letters, digits and '-'), for example \"ray-worker\"",
        ));
        return;
    }
    if let Some(problem) = dns1123_label_problem(name) {
        errors.push(FieldError::new(
            path,
            format!("\"{name}\" is not a valid container name: {problem}"),
        ));
    } else if let Some(first) = names.get(name) {
        errors.push(FieldError::new(
            path,
            format!(
                "{first} is also named \"{name}\": container and init container names must be unique in a pod; rename one of them"
            ),
        ));
    } else if additions.containers.contains(&name) {
        errors.push(FieldError::new(
            path,
            format!(
                "the operator adds a container named \"{name}\" to this pod: rename this container"
            ),
        ));
    } else {
        names.insert(name, at.to_owned());
    }
}

/// The rules of one container (or init container) at `at`; `volumes` are the names its mounts may refer to.
fn check_container(
    container: &Container,
    at: &str,
    volumes: &BTreeSet<&str>,
    errors: &mut Vec<FieldError>,
) {
    check_image(
        container.image.as_deref(),
        &format!("{at}.image"),
        true,
        errors,
    );
    check_ports(container.ports.as_deref().unwrap_or_default(), at, errors);
    check_env(
        container.env.as_deref().unwrap_or_default(),
        &format!("{at}.env"),
        errors,
    );
    check_env_from(
        container.env_from.as_deref().unwrap_or_default(),
        &format!("{at}.envFrom"),
        errors,
    );
    if let Some(resources) = &container.resources {
        check_resources(resources, &format!("{at}.resources"), errors);
    }
    check_mounts(
        container.volume_mounts.as_deref().unwrap_or_default(),
        volumes,
        &format!("{at}.volumeMounts"),
        errors,
    );
}

/// An image is required (unless `required` is false and it is unset) and has no surrounding whitespace.
fn check_image(image: Option<&str>, path: &str, required: bool, errors: &mut Vec<FieldError>) {
    match image {
        None if !required => {}
        None | Some("") => errors.push(FieldError::new(
            path,
            "a container needs an image: set image, for example rayproject/ray:2.9.0",
        )),
        Some(image) if image.trim() != image => errors.push(FieldError::new(
            path,
            format!("the image \"{image}\" must not start or end with whitespace: remove it"),
        )),
        Some(_) => {}
    }
}

/// Container ports: numbers in range, valid protocols, valid names unique within the container.
fn check_ports(ports: &[ContainerPort], at: &str, errors: &mut Vec<FieldError>) {
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let at = format!("{at}.ports[{i}]");
        if let Some(name) = port.name.as_deref().filter(|name| !name.is_empty()) {
            check_port_name(name, &at, "container", &mut names, errors);
        }
        if let Some(problem) = port_number_problem(port.container_port) {
            errors.push(FieldError::new(
                format!("{at}.containerPort"),
                format!("containerPort {problem}"),
            ));
        }
        if let Some(host_port) = port.host_port
            && !(0..=65535).contains(&host_port)
        {
            errors.push(FieldError::new(
                format!("{at}.hostPort"),
                format!(
                    "hostPort must be between 1 and 65535 (or 0 for none), but it is {host_port}"
                ),
            ));
        }
        if let Some(protocol) = port.protocol.as_deref()
            && !PROTOCOLS.contains(&protocol)
        {
            errors.push(FieldError::new(
                format!("{at}.protocol"),
                format!("\"{protocol}\" is not a protocol: use TCP, UDP or SCTP"),
            ));
        }
    }
}

/// A host port (with its protocol and host IP) may be used by only one container of a pod.
fn check_host_ports(containers: &[Container], spec_path: &str, errors: &mut Vec<FieldError>) {
    let mut seen: BTreeMap<(i32, &str, &str), String> = BTreeMap::new();
    for (i, container) in containers.iter().enumerate() {
        for (j, port) in container
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let Some(host_port) = port.host_port.filter(|&p| p != 0) else {
                continue;
            };
            let key = (
                host_port,
                port.protocol.as_deref().unwrap_or("TCP"),
                port.host_ip.as_deref().unwrap_or(""),
            );
            let at = format!("{spec_path}.containers[{i}].ports[{j}]");
            if let Some(first) = seen.get(&key) {
                errors.push(FieldError::new(
                    format!("{at}.hostPort"),
                    format!(
                        "{first} already uses hostPort {host_port}/{}: a host port can be used once per pod; choose another",
                        key.1
                    ),
                ));
            } else {
                seen.insert(key, at);
            }
        }
    }
}

/// Environment variables: valid names, and a `valueFrom` with exactly one source (and no `value` beside it).
pub(crate) fn check_env(env: &[EnvVar], path: &str, errors: &mut Vec<FieldError>) {
    for (i, var) in env.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if let Some(problem) = env_var_name_problem(&var.name) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!(
                    "\"{}\" is not a valid environment variable name: {problem}",
                    var.name
                ),
            ));
        }
        let Some(source) = &var.value_from else {
            continue;
        };
        let from = format!("{at}.valueFrom");
        if var.value.as_deref().is_some_and(|v| !v.is_empty()) {
            errors.push(FieldError::new(
                &from,
                "value and valueFrom cannot both be set: keep one",
            ));
        }
        let sources = usize::from(source.config_map_key_ref.is_some())
            + usize::from(source.secret_key_ref.is_some())
            + usize::from(source.field_ref.is_some())
            + usize::from(source.resource_field_ref.is_some())
            + usize::from(source.file_key_ref.is_some());
        match sources {
            0 => errors.push(FieldError::new(
                &from,
                "valueFrom needs a source: set one of configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef or fileKeyRef",
            )),
            1 => {}
            _ => errors.push(FieldError::new(
                &from,
                "valueFrom may have only one source: keep one of configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef and fileKeyRef",
            )),
        }
        if let Some(selector) = &source.config_map_key_ref {
            check_key_ref(
                &selector.name,
                &selector.key,
                &format!("{from}.configMapKeyRef"),
                "ConfigMap",
                errors,
            );
        }
        if let Some(selector) = &source.secret_key_ref {
            check_key_ref(
                &selector.name,
                &selector.key,
                &format!("{from}.secretKeyRef"),
                "Secret",
                errors,
            );
        }
        if let Some(field) = &source.field_ref
            && field.field_path.is_empty()
        {
            errors.push(FieldError::new(
                format!("{from}.fieldRef.fieldPath"),
                "fieldRef needs a fieldPath, for example status.podIP",
            ));
        }
        if let Some(resource) = &source.resource_field_ref
            && resource.resource.is_empty()
        {
            errors.push(FieldError::new(
                format!("{from}.resourceFieldRef.resource"),
                "resourceFieldRef needs a resource, for example limits.cpu",
            ));
        }
    }
}

/// A ConfigMap or Secret key reference: a valid object name and key.
fn check_key_ref(name: &str, key: &str, at: &str, kind: &str, errors: &mut Vec<FieldError>) {
    check_object_ref(name, &format!("{at}.name"), kind, errors);
    if let Some(problem) = config_key_problem(key) {
        errors.push(FieldError::new(
            format!("{at}.key"),
            format!("\"{key}\" is not a valid {kind} key: {problem}"),
        ));
    }
}

/// The name of a referenced ConfigMap or Secret: a DNS subdomain.
fn check_object_ref(name: &str, at: &str, kind: &str, errors: &mut Vec<FieldError>) {
    if let Some(problem) = dns1123_subdomain_problem(name) {
        errors.push(FieldError::new(
            at,
            format!("\"{name}\" is not a valid {kind} name: {problem}; set the name of the {kind}"),
        ));
    }
}

/// `envFrom` entries: exactly one of `configMapRef` and `secretRef`, and a valid prefix.
pub(crate) fn check_env_from(list: &[EnvFromSource], path: &str, errors: &mut Vec<FieldError>) {
    for (i, source) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if let Some(prefix) = source.prefix.as_deref().filter(|p| !p.is_empty())
            && let Some(problem) = env_var_name_problem(prefix)
        {
            errors.push(FieldError::new(
                format!("{at}.prefix"),
                format!("\"{prefix}\" cannot start environment variable names: {problem}"),
            ));
        }
        match (&source.config_map_ref, &source.secret_ref) {
            (None, None) => errors.push(FieldError::new(
                &at,
                "envFrom needs a source: set configMapRef or secretRef",
            )),
            (Some(_), Some(_)) => errors.push(FieldError::new(
                &at,
                "an envFrom entry may have only one source: split configMapRef and secretRef into two entries",
            )),
            (Some(config_map), None) => check_object_ref(
                &config_map.name,
                &format!("{at}.configMapRef.name"),
                "ConfigMap",
                errors,
            ),
            (None, Some(secret)) => {
                check_object_ref(&secret.name, &format!("{at}.secretRef.name"), "Secret", errors)
            }
        }
    }
}

/// Volumes: DNS-1123 label names, unique, each with exactly one source. Returns the declared names.
fn check_volumes<'a>(
    volumes: &'a [Volume],
    spec_path: &str,
    errors: &mut Vec<FieldError>,
) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    for (i, volume) in volumes.iter().enumerate() {
        let at = format!("{spec_path}.volumes[{i}]");
        let name = volume.name.as_str();
        if let Some(problem) = dns1123_label_problem(name) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!("\"{name}\" is not a valid volume name: {problem}"),
            ));
        } else if !names.insert(name) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!(
                    "another volume is also named \"{name}\": volume names must be unique; rename one of them"
                ),
            ));
        }
        // Every field of a volume besides its name is a source (emptyDir, configMap, persistentVolumeClaim, ...).
        let sources = match serde_json::to_value(volume) {
            Ok(serde_json::Value::Object(fields)) => {
                fields.keys().filter(|key| key.as_str() != "name").count()
            }
            _ => 1,
        };
        match sources {
            0 => errors.push(FieldError::new(
                &at,
                format!(
                    "volume \"{name}\" needs a source: set one of emptyDir, configMap, secret, persistentVolumeClaim, hostPath, ..."
                ),
            )),
            1 => {}
            _ => errors.push(FieldError::new(
                &at,
                format!(
                    "volume \"{name}\" may have only one source (emptyDir, configMap, secret, ...), but it has {sources}: keep one"
                ),
            )),
        }
    }
    names
}

/// Volume mounts: each names an existing volume, has a mount path used once in the container, and a relative
/// `subPath` without `..`.
pub(crate) fn check_mounts(
    mounts: &[VolumeMount],
    volumes: &BTreeSet<&str>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let mut paths = BTreeSet::new();
    for (i, mount) in mounts.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if !volumes.contains(mount.name.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!(
                    "no volume of this pod is named \"{}\": add it under template.spec.volumes, or mount an existing one",
                    mount.name
                ),
            ));
        }
        if mount.mount_path.is_empty() {
            errors.push(FieldError::new(
                format!("{at}.mountPath"),
                "a volume mount needs a mountPath: set the directory to mount the volume at",
            ));
        } else if !paths.insert(mount.mount_path.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.mountPath"),
                format!(
                    "another mount of this container also uses mountPath \"{}\": mount paths must be unique; change one",
                    mount.mount_path
                ),
            ));
        }
        if let Some(sub_path) = mount.sub_path.as_deref().filter(|p| !p.is_empty())
            && (sub_path.starts_with('/') || sub_path.split('/').any(|part| part == ".."))
        {
            errors.push(FieldError::new(
                format!("{at}.subPath"),
                format!(
                    "subPath \"{sub_path}\" must be a relative path inside the volume, without '..'"
                ),
            ));
        }
    }
}

/// The fields of `autoscalerOptions` that become the autoscaler container of the head pod; `head_volumes` are
/// the volumes its mounts may refer to.
pub(crate) fn check_autoscaler(
    options: &AutoscalerOptions,
    path: &str,
    head_volumes: &BTreeSet<&str>,
    errors: &mut Vec<FieldError>,
) {
    check_image(
        options.image.as_deref(),
        &format!("{path}.image"),
        false,
        errors,
    );
    if let Some(resources) = &options.resources {
        check_resources(resources, &format!("{path}.resources"), errors);
    }
    check_env(&options.env, &format!("{path}.env"), errors);
    check_env_from(&options.env_from, &format!("{path}.envFrom"), errors);
    check_mounts(
        &options.volume_mounts,
        head_volumes,
        &format!("{path}.volumeMounts"),
        errors,
    );
}

/// The names of the volumes declared by a pod template.
pub(crate) fn declared_volumes(template: &PodTemplateSpec) -> BTreeSet<&str> {
    template
        .spec
        .as_ref()
        .and_then(|spec| spec.volumes.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|volume| volume.name.as_str())
        .collect()
}
