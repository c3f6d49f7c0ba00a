//! Rendering of every Kubernetes object the operator creates, as pure functions of the ray.io API types.
//!
//! Nothing here talks to an API server: given the same input, the same objects come out, so the operator's
//! `render` command can show a user exactly what it would create.
