//! Rules of a RayService spec, used by the garde attributes on [`crate::RayServiceSpec`].

use super::yaml::check_yaml_mapping;

/// `serveConfigV2` must be a YAML mapping in Ray Serve's config format (an `applications` list, ...).
pub(crate) fn serve_config(value: &Option<String>, _: &()) -> garde::Result {
    match value.as_deref() {
        Some(text) => check_yaml_mapping(text, "the Serve config"),
        None => Ok(()),
    }
}
