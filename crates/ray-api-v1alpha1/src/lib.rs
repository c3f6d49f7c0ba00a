//! The deprecated `ray.io/v1alpha1` API, and conversion to and from `ray.io/v1` that loses nothing.
