# syntax=docker/dockerfile:1
# The operator image: one statically linked binary (musl, rustls; no OpenSSL, no libc at run time) on distroless
# "static", running as the non-root user 65532. Build from the repository root:
#
#   docker build -t ray-operator-rs:0.1.0 .
#
# The build stage needs network access to crates.io and the Debian and rustup mirrors.

FROM rust:1.95-bookworm AS build
# musl-tools: ring (TLS) compiles a little C and needs a musl C compiler for the musl target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# Caches keep the registry and target directory between builds of the image; the binary is copied out of the
# cached target directory before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl -p ray-operator \
 && cp target/x86_64-unknown-linux-musl/release/ray-operator /ray-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /ray-operator /usr/local/bin/ray-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ray-operator"]
CMD ["run"]
