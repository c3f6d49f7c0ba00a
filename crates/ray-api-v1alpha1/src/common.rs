//! Small serde helpers shared by the kinds.

/// `skip_serializing_if` for plain booleans whose default is `false`, so an unset flag is never written.
pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}
