"""A tiny Ray Serve application used by this project's RayService examples and tests."""
