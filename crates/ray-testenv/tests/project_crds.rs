//! The project's generated CRDs (`config/crd/`, from `cargo xtask crd`) are accepted by the real API server and
//! become Established.

use std::path::Path;

use ray_testenv::{ControlPlane, install_crds};

#[tokio::test]
async fn the_ray_io_crds_install_and_are_established() {
    let plane = ControlPlane::shared()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = plane.client().await.unwrap_or_else(|e| panic!("{e}"));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/crd");
    let mut names = install_crds(&client, &dir)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    names.sort();
    assert_eq!(
        names,
        [
            "rayclusters.ray.io",
            "raycronjobs.ray.io",
            "rayjobs.ray.io",
            "rayservices.ray.io"
        ]
    );
}
