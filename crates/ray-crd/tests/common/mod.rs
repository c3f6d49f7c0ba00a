//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::sync::OnceLock;

use ray_crd::RayKind;
use serde_json::Value;

/// The published CRD of `kind` as JSON (generated once per test binary: debug builds are slow at it).
pub fn crd_json(kind: RayKind) -> Value {
    static CRDS: OnceLock<Vec<(RayKind, Value)>> = OnceLock::new();
    let crds = CRDS.get_or_init(|| {
        RayKind::ALL
            .into_iter()
            .map(|k| {
                let crd = ray_crd::crd(k).expect("the CRD assembles");
                (
                    k,
                    ray_crd::crd_json(&crd).expect("the CRD serializes to JSON"),
                )
            })
            .collect()
    });
    crds.iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, crd)| crd.clone())
        .expect("every kind has a CRD")
}

/// The `openAPIV3Schema` of `version` in a CRD given as JSON, if that version exists.
pub fn version_schema<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == version)
        .map(|v| &v["schema"]["openAPIV3Schema"])
}

/// The names of the versions in a CRD given as JSON.
pub fn version_names(crd: &Value) -> Vec<String> {
    crd["spec"]["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
