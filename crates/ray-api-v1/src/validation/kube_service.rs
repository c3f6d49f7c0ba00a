//! The API server's rules for the Services the operator creates from user input: a custom head Service
//! (`headGroupSpec.headService`) and a RayService's `serveService`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::FieldError;
use super::metadata::check_metadata;
use super::names::port_name_problem;
use super::pod::{PROTOCOLS, check_port_name, port_number_problem};

/// The Service types Kubernetes knows.
const SERVICE_TYPES: [&str; 4] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];

/// Checks the Service at `path` (for example `spec.headGroupSpec.headService`): its labels and annotations, its
/// type and its ports. `default_type` is the type the operator gives it when it names none (the head group's
/// `serviceType`).
///
/// The operator adds its own named ports (the head's GCS, dashboard and client ports, or the Serve port) to the
/// ports of a custom Service, so unlike a plain Service every port needs a name, even a single one: otherwise the
/// Service it creates has several ports and an unnamed one, which the API server rejects.
pub(crate) fn check_service(
    service: &Service,
    path: &str,
    default_type: Option<&str>,
    errors: &mut Vec<FieldError>,
) {
    check_metadata(&service.metadata, &format!("{path}.metadata"), errors);
    let Some(spec) = &service.spec else {
        return;
    };
    let service_type = spec
        .type_
        .as_deref()
        .filter(|kind| !kind.is_empty())
        .or(default_type.filter(|kind| !kind.is_empty()));
    if let Some(kind) = service_type
        && !SERVICE_TYPES.contains(&kind)
    {
        errors.push(FieldError::new(
            format!("{path}.spec.type"),
            format!("\"{kind}\" is not a Service type: use ClusterIP, NodePort, LoadBalancer or ExternalName"),
        ));
    }
    let node_ports_allowed = matches!(service_type, Some("NodePort" | "LoadBalancer"));

    let ports = spec.ports.as_deref().unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut numbers: BTreeMap<(i32, &str), usize> = BTreeMap::new();
    for (i, port) in ports.iter().enumerate() {
        let at = format!("{path}.spec.ports[{i}]");
        match port.name.as_deref().filter(|name| !name.is_empty()) {
            None => errors.push(FieldError::new(
                format!("{at}.name"),
                "the operator adds its own named ports to this Service, and a Service with more than one port needs a name for each: set name, for example \"http\"",
            )),
            Some(name) => check_port_name(name, &at, "Service", &mut names, errors),
        }
        if let Some(problem) = port_number_problem(port.port) {
            errors.push(FieldError::new(
                format!("{at}.port"),
                format!("port {problem}"),
            ));
        }
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            errors.push(FieldError::new(
                format!("{at}.protocol"),
                format!("\"{protocol}\" is not a protocol: use TCP, UDP or SCTP"),
            ));
        }
        if let Some(&first) = numbers.get(&(port.port, protocol)) {
            errors.push(FieldError::new(
                format!("{at}.port"),
                format!(
                    "ports[{first}] already exposes {}/{protocol}: each port and protocol may appear once; remove one",
                    port.port
                ),
            ));
        } else {
            numbers.insert((port.port, protocol), i);
        }
        match &port.target_port {
            Some(IntOrString::Int(number)) if *number != 0 => {
                if let Some(problem) = port_number_problem(*number) {
                    errors.push(FieldError::new(
                        format!("{at}.targetPort"),
                        format!("targetPort {problem}"),
                    ));
                }
            }
            Some(IntOrString::String(name)) if !name.is_empty() => {
                if let Some(problem) = port_name_problem(name) {
                    errors.push(FieldError::new(
                        format!("{at}.targetPort"),
                        format!(
                            "\"{name}\" is neither a port number nor a valid container port name: {problem}"
                        ),
                    ));
                }
            }
            _ => {}
        }
        if let Some(node_port) = port.node_port.filter(|&n| n != 0) {
            if let Some(problem) = port_number_problem(node_port) {
                errors.push(FieldError::new(
                    format!("{at}.nodePort"),
                    format!("nodePort {problem}"),
                ));
            } else if !node_ports_allowed {
                errors.push(FieldError::new(
                    format!("{at}.nodePort"),
                    "nodePort only applies to Services of type NodePort or LoadBalancer: set spec.type, or remove nodePort",
                ));
            }
        }
    }
}
