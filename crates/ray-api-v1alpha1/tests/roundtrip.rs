//! Property tests: converting to the other version and back gives back exactly the object we started from, for
//! arbitrary objects of every kind, in both directions; and the JSON-level `convert` agrees with `From`.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use proptest::sample::subsequence;
use ray_api_v1 as v1;
use ray_api_v1alpha1::{
    self as v1alpha1, V1_PRESERVED_FIELDS_ANNOTATION, V1ALPHA1_PRESERVED_FIELDS_ANNOTATION,
    convert, convert_strict,
};
use serde::Serialize;

fn json<T: Serialize>(object: &T) -> serde_json::Value {
    serde_json::to_value(object).expect("objects serialize")
}

fn annotation<'a>(
    metadata: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a String> {
    metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(key))
}

/// The checks every kind shares, on one v1 object `original`.
macro_rules! check_v1_round_trip {
    ($original:expr, $v1alpha1:ty, $v1:ty) => {{
        let original: $v1 = $original;
        let down: $v1alpha1 = original.clone().into();
        // The v1alpha1 object carries only its own annotation, never the reverse one.
        prop_assert!(annotation(&down.metadata, V1ALPHA1_PRESERVED_FIELDS_ANNOTATION).is_none());
        let up: $v1 = down.clone().into();
        prop_assert_eq!(&up.metadata, &original.metadata);
        prop_assert_eq!(&up.spec, &original.spec);
        prop_assert_eq!(&up.status, &original.status);
        // Strict conversion of an annotation we wrote never complains.
        let strict: $v1 =
            v1alpha1::StrictInto::strict_into(down.clone()).expect("our own annotation is usable");
        prop_assert_eq!(json(&strict), json(&original));
        // JSON-level conversion agrees with the typed one, both ways.
        let down_json =
            convert(json(&original), "ray.io/v1alpha1").expect("a valid object converts");
        prop_assert_eq!(&down_json, &json(&down));
        prop_assert_eq!(
            convert_strict(down_json, "ray.io/v1").expect("converts back"),
            json(&original)
        );
        // Converting again is stable: the same v1alpha1 object, the same annotation.
        let again: $v1alpha1 = up.into();
        prop_assert_eq!(again, down);
    }};
}

macro_rules! check_v1alpha1_round_trip {
    ($original:expr, $v1alpha1:ty, $v1:ty) => {{
        let original: $v1alpha1 = $original;
        let up: $v1 = original.clone().into();
        prop_assert!(annotation(&up.metadata, V1_PRESERVED_FIELDS_ANNOTATION).is_none());
        let down: $v1alpha1 = up.clone().into();
        prop_assert_eq!(&down, &original);
        let strict: $v1alpha1 =
            v1alpha1::StrictInto::strict_into(up.clone()).expect("our own annotation is usable");
        prop_assert_eq!(&strict, &original);
        let up_json = convert(json(&original), "ray.io/v1").expect("a valid object converts");
        prop_assert_eq!(&up_json, &json(&up));
        prop_assert_eq!(
            convert_strict(up_json, "ray.io/v1alpha1").expect("converts back"),
            json(&original)
        );
    }};
}

/// Runs `body` on a thread with a large stack: the generated objects (pod templates inside cluster specs inside
/// job specs) are big, and unoptimized builds use far more stack for them than the default 2 MiB test thread has.
fn with_large_stack(body: impl FnOnce() + Send + 'static) {
    let outcome = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(body)
        .expect("a test thread starts")
        .join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Annotation values a user might write by hand: random text, and well-formed entries at random paths.
fn garbage_annotation() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        r#"\[\{"path":"/(spec|status)/[a-zA-Z/=~0-9]{0,30}","(value|shown)":(1|"x"|null|\[\]|\{\})\}\]"#,
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 192,
        ..ProptestConfig::default()
    }
}

#[test]
fn v1_ray_cluster_survives_v1alpha1() {
    with_large_stack(|| {
        proptest!(config(), |(cluster in v1_ray_cluster())| {
            check_v1_round_trip!(cluster, v1alpha1::RayCluster, v1::RayCluster);
        });
    });
}

#[test]
fn v1_ray_job_survives_v1alpha1() {
    with_large_stack(|| {
        proptest!(config(), |(job in v1_ray_job())| {
            check_v1_round_trip!(job, v1alpha1::RayJob, v1::RayJob);
        });
    });
}

#[test]
fn v1_ray_service_survives_v1alpha1() {
    with_large_stack(|| {
        proptest!(config(), |(service in v1_ray_service())| {
            check_v1_round_trip!(service, v1alpha1::RayService, v1::RayService);
        });
    });
}

#[test]
fn v1alpha1_ray_cluster_survives_v1() {
    with_large_stack(|| {
        proptest!(config(), |(cluster in v1alpha1_ray_cluster())| {
            check_v1alpha1_round_trip!(cluster, v1alpha1::RayCluster, v1::RayCluster);
        });
    });
}

#[test]
fn v1alpha1_ray_job_survives_v1() {
    with_large_stack(|| {
        proptest!(config(), |(job in v1alpha1_ray_job())| {
            check_v1alpha1_round_trip!(job, v1alpha1::RayJob, v1::RayJob);
        });
    });
}

#[test]
fn v1alpha1_ray_service_survives_v1() {
    with_large_stack(|| {
        proptest!(config(), |(service in v1alpha1_ray_service())| {
            check_v1alpha1_round_trip!(service, v1alpha1::RayService, v1::RayService);
        });
    });
}

/// A v1 cluster with uniquely named worker groups (as validation requires, so every group has an identity), and the
/// indices of the groups a user keeps, in the order they keep them.
fn cluster_and_kept_groups() -> impl Strategy<Value = (v1::RayCluster, Vec<usize>)> {
    v1_ray_cluster().prop_flat_map(|mut cluster| {
        for (index, group) in cluster.spec.worker_group_specs.iter_mut().enumerate() {
            group.group_name = format!("group-{index}");
        }
        let count = cluster.spec.worker_group_specs.len();
        let indices: Vec<usize> = (0..count).collect();
        (
            Just(cluster),
            subsequence(indices, 0..=count).prop_shuffle(),
        )
    })
}

/// Worker groups removed or reordered through v1alpha1: every remaining group keeps its own `numOfHosts`, and
/// nothing of a removed group comes back.
#[test]
fn worker_groups_keep_their_hosts_by_name() {
    with_large_stack(|| {
        proptest!(config(), |((cluster, kept) in cluster_and_kept_groups())| {
            let mut cluster = cluster;
            let mut down: v1alpha1::RayCluster = cluster.clone().into();
            let groups = std::mem::take(&mut down.spec.worker_group_specs);
            down.spec.worker_group_specs = kept.iter().map(|&index| groups[index].clone()).collect();
            let up: v1::RayCluster = down.into();

            let originals = std::mem::take(&mut cluster.spec.worker_group_specs);
            cluster.spec.worker_group_specs = kept.iter().map(|&index| originals[index].clone()).collect();
            prop_assert_eq!(&up.spec, &cluster.spec);
            prop_assert_eq!(&up.metadata, &cluster.metadata);
            prop_assert_eq!(&up.status, &cluster.status);
        });
    });
}

/// Whatever a user writes into the annotation, conversion never panics, lenient conversion succeeds and the
/// annotation is gone afterwards.
#[test]
fn garbage_annotations_never_panic() {
    with_large_stack(|| {
        proptest!(config(), |(cluster in v1alpha1_ray_cluster(), garbage in garbage_annotation())| {
            let mut cluster = cluster;
            cluster
                .metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(V1_PRESERVED_FIELDS_ANNOTATION.to_owned(), garbage);
            let _ = v1alpha1::StrictInto::<v1::RayCluster>::strict_into(cluster.clone());
            let up: v1::RayCluster = cluster.clone().into();
            prop_assert!(annotation(&up.metadata, V1_PRESERVED_FIELDS_ANNOTATION).is_none());
            let _ = convert_strict(json(&cluster), "ray.io/v1");
            prop_assert!(convert(json(&cluster), "ray.io/v1").is_ok());
        });
    });
}
