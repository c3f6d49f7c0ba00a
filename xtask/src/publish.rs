//! `cargo xtask publish-check`: checks that the library crates this workspace publishes (docs/api-crates.md) can be
//! published: their manifests carry what crates.io and docs.rs need, and `cargo publish --dry-run` packages them
//! and builds each package on its own, as a user's build would see it. Nothing is ever uploaded.

use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

/// The crates published to crates.io, in dependency order. Every other workspace member stays `publish = false`.
pub const PUBLISHED: &[&str] = &[
    "ray-api-v1",
    "ray-api-v1alpha1",
    "ray-builders",
    "ray-dashboard-client",
];

/// The Kubernetes version k8s-openapi is built for while verifying the packages. A library never picks one (its
/// users' binary does), so the packaged crates would not build without it.
const K8S_OPENAPI_ENABLED_VERSION: &str = "1.37";

/// What to check.
#[derive(Debug, clap::Args)]
pub struct PublishCheckArgs {
    /// Package without building the packages (cargo publish --no-verify): seconds instead of minutes, but a
    /// package that only fails to compile on its own (a missing file, a feature another crate enabled) passes.
    #[arg(long)]
    pub no_verify: bool,
}

pub fn run(args: &PublishCheckArgs) -> anyhow::Result<()> {
    let metadata = cargo_metadata()?;
    let problems = manifest_problems(&metadata);
    if !problems.is_empty() {
        bail!(
            "the published crates' manifests are not ready for crates.io:\n  {}\nSee docs/api-crates.md for what \
             each published crate's Cargo.toml needs.",
            problems.join("\n  ")
        );
    }
    for warning in manifest_warnings(&metadata) {
        eprintln!("warning: {warning}");
    }

    let mut cargo = Command::new(cargo());
    cargo.args(["publish", "--dry-run", "--allow-dirty"]);
    if args.no_verify {
        cargo.arg("--no-verify");
    }
    for name in PUBLISHED {
        cargo.args(["--package", name]);
    }
    // The verify build only has to compile: without debug info it links faster and takes far less disk.
    cargo
        .env("K8S_OPENAPI_ENABLED_VERSION", K8S_OPENAPI_ENABLED_VERSION)
        .env("CARGO_PROFILE_DEV_DEBUG", "false");
    eprintln!(
        "==> cargo publish --dry-run{} for {} (nothing is uploaded)",
        if args.no_verify { " --no-verify" } else { "" },
        PUBLISHED.join(", ")
    );
    let status = cargo.status().context("starting cargo publish --dry-run")?;
    if !status.success() {
        bail!(
            "cargo publish --dry-run failed ({status}) for {}: crates.io would reject these crates or they would not \
             build for a user. Cargo's error is above. Usual causes: a dependency on a workspace crate that is not \
             published (only {} are), a path dependency without `version` in [workspace.dependencies], a file the \
             crate reads from outside its own directory, or code that compiles only with a feature another \
             workspace crate enables.",
            PUBLISHED.join(", "),
            PUBLISHED.join(", ")
        );
    }
    if args.no_verify {
        eprintln!("==> the published crates package (not built: --no-verify)");
    } else {
        eprintln!("==> the published crates package and build on their own");
    }
    Ok(())
}

/// `cargo metadata` of the workspace members only.
fn cargo_metadata() -> anyhow::Result<Value> {
    let output = Command::new(cargo())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("starting cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("reading cargo metadata's output")
}

/// Everything that would make a published crate unusable or unpublishable, one message per problem naming the
/// crate and the Cargo.toml key to change.
fn manifest_problems(metadata: &Value) -> Vec<String> {
    let packages = members(metadata);
    let mut problems = Vec::new();
    for name in PUBLISHED {
        if !packages.iter().any(|p| p["name"] == *name) {
            problems.push(format!(
                "{name} is not a workspace member; remove it from PUBLISHED in xtask/src/publish.rs or add it back"
            ));
        }
    }
    for package in &packages {
        let name = package["name"].as_str().unwrap_or("?");
        let publishable =
            !matches!(&package["publish"], Value::Array(registries) if registries.is_empty());
        let listed = PUBLISHED.contains(&name);
        if publishable && !listed {
            problems.push(format!(
                "{name} would be published (its Cargo.toml overrides the workspace's `publish = false`): remove \
                 that, or add it to PUBLISHED in xtask/src/publish.rs and docs/api-crates.md"
            ));
        }
        if !listed {
            continue;
        }
        if !publishable {
            problems.push(format!(
                "{name} has `publish = false`; a published crate needs `publish = true` in its [package]"
            ));
        }
        for key in [
            "description",
            "license",
            "repository",
            "readme",
            "rust_version",
        ] {
            if package[key].as_str().is_none_or(str::is_empty) {
                let toml_key = key.replace('_', "-");
                problems.push(format!("{name} has no `{toml_key}` in its [package]"));
            }
        }
        for key in ["keywords", "categories"] {
            if package[key].as_array().is_none_or(Vec::is_empty) {
                problems.push(format!(
                    "{name} has no `{key}` in its [package]: crates.io search relies on them"
                ));
            }
        }
        problems.extend(k8s_openapi_problems(name, package));
    }
    problems
}

/// A library that enables a k8s-openapi version feature breaks every user who picks another; and docs.rs builds
/// without dev-dependencies, so it needs one named in `[package.metadata.docs.rs]`.
fn k8s_openapi_problems(name: &str, package: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let is_version_feature =
        |feature: &str| feature.starts_with("v1_") || feature == "latest" || feature == "earliest";
    let mut uses_k8s_openapi = false;
    for dependency in package["dependencies"].as_array().into_iter().flatten() {
        if dependency["name"] != "k8s-openapi" || dependency["kind"] == "dev" {
            continue;
        }
        uses_k8s_openapi = true;
        let features = dependency["features"].as_array().into_iter().flatten();
        for feature in features
            .filter_map(Value::as_str)
            .filter(|f| is_version_feature(f))
        {
            problems.push(format!(
                "{name} enables the k8s-openapi feature `{feature}` in [dependencies]: a library must leave the \
                 Kubernetes version to its users' binary; enable it in [dev-dependencies] instead"
            ));
        }
    }
    let docs_rs_features = package["metadata"]["docs"]["rs"]["features"].as_array();
    let docs_rs_has_version = docs_rs_features.into_iter().flatten().any(|feature| {
        feature
            .as_str()
            .and_then(|f| f.strip_prefix("k8s-openapi/"))
            .is_some_and(is_version_feature)
    });
    if uses_k8s_openapi && !docs_rs_has_version {
        problems.push(format!(
            "{name} depends on k8s-openapi but its [package.metadata.docs.rs] `features` names no Kubernetes \
             version, so docs.rs cannot build it: add `features = [\"k8s-openapi/latest\"]`"
        ));
    }
    problems
}

/// Things a dry run accepts but a real release should fix first.
fn manifest_warnings(metadata: &Value) -> Vec<String> {
    let placeholders: Vec<&str> = members(metadata)
        .into_iter()
        .filter(|package| PUBLISHED.iter().any(|name| package["name"] == *name))
        .filter(|package| {
            package["repository"]
                .as_str()
                .is_some_and(|url| url.contains(".invalid"))
        })
        .filter_map(|package| package["name"].as_str())
        .collect();
    if placeholders.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the `repository` of {} is a placeholder (an .invalid host): set the real URL in [workspace.package] \
         repository in the root Cargo.toml before publishing",
        placeholders.join(", ")
    )]
}

/// The cargo that runs us (so `cargo +toolchain xtask publish-check` stays on that toolchain).
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn members(metadata: &Value) -> Vec<&Value> {
    metadata["packages"]
        .as_array()
        .map(|packages| packages.iter().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A publishable package as `cargo metadata` describes it, with everything a published crate needs.
    fn ready(name: &str) -> Value {
        json!({
            "name": name,
            "publish": null,
            "description": "d",
            "license": "Apache-2.0",
            "repository": "https://example.com/r",
            "readme": "README.md",
            "rust_version": "1.89",
            "keywords": ["ray"],
            "categories": ["api-bindings"],
            "dependencies": [
                { "name": "k8s-openapi", "kind": null, "features": ["std"] },
                { "name": "k8s-openapi", "kind": "dev", "features": ["std", "v1_37"] }
            ],
            "metadata": { "docs": { "rs": { "features": ["k8s-openapi/latest"] } } }
        })
    }

    fn workspace(mut packages: Vec<Value>, edit: impl FnOnce(&mut Vec<Value>)) -> Value {
        edit(&mut packages);
        json!({ "packages": packages })
    }

    fn all_ready() -> Vec<Value> {
        PUBLISHED.iter().map(|name| ready(name)).collect()
    }

    #[test]
    fn complete_manifests_pass() {
        assert_eq!(
            manifest_problems(&workspace(all_ready(), |_| {})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_kubernetes_version_feature_in_dependencies_is_reported() {
        let metadata = workspace(all_ready(), |p| {
            p[0]["dependencies"][0]["features"] = json!(["std", "v1_37"]);
        });
        let problems = manifest_problems(&metadata);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("ray-api-v1 enables the k8s-openapi feature `v1_37`"));
    }

    #[test]
    fn docs_rs_needs_a_kubernetes_version() {
        let metadata = workspace(all_ready(), |p| p[2]["metadata"] = Value::Null);
        let problems = manifest_problems(&metadata);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("ray-builders depends on k8s-openapi"));
    }

    #[test]
    fn missing_metadata_names_the_key() {
        let metadata = workspace(all_ready(), |p| {
            p[3]["repository"] = Value::Null;
            p[3]["keywords"] = json!([]);
        });
        let problems = manifest_problems(&metadata);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("ray-dashboard-client has no `repository`"));
        assert!(problems[1].contains("ray-dashboard-client has no `keywords`"));
    }

    #[test]
    fn an_unlisted_publishable_crate_and_an_unpublishable_listed_one_are_reported() {
        let metadata = workspace(all_ready(), |p| {
            p[1]["publish"] = json!([]);
            p.push(ready("ray-controllers"));
        });
        let problems = manifest_problems(&metadata);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("ray-api-v1alpha1 has `publish = false`"));
        assert!(problems[1].contains("ray-controllers would be published"));
    }

    #[test]
    fn a_placeholder_repository_is_only_a_warning() {
        let metadata = workspace(all_ready(), |p| {
            p[0]["repository"] = json!("https://example.invalid/x");
        });
        assert!(manifest_problems(&metadata).is_empty());
        let warnings = manifest_warnings(&metadata);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`repository` of ray-api-v1 is a placeholder"));
        assert!(manifest_warnings(&workspace(all_ready(), |_| {})).is_empty());
    }
}
