# The operator image: one statically linked binary (glibc linked in with crt-static, rustls; no OpenSSL, no shared
# libraries) on an empty base, running as the non-root user 65532. Nothing is compiled or downloaded here: the build
# needs no base image, no network and no RUN step, so buildah or podman build it without a daemon or a container
# runtime. Build it with
#
#   cargo xtask image            # see docs/install.md
#
# which compiles the binary and prepares the build context, a directory holding exactly:
#
#   ray-operator          the static binary (cargo build --target <host> with -C target-feature=+crt-static), 0755
#   ca-certificates.crt   the build machine's CA bundle, for API servers whose certificate a public CA signed
#   passwd, group         root and nonroot (65532), so the user has a name and $HOME resolves
#
# and runs `buildah build -f Dockerfile <context>` with the build arguments below.
#
# No NSS files or libraries are needed: with no /etc/nsswitch.conf, the static glibc resolves names with its
# built-in DNS client from the /etc/resolv.conf and /etc/hosts that Kubernetes mounts (bins/ray-operator/tests/image.rs).

FROM scratch

ARG VERSION=0.1.0
ARG SOURCE=https://example.invalid/ray-operator-rs
ARG REVISION=unknown

LABEL org.opencontainers.image.title="ray-operator-rs" \
      org.opencontainers.image.description="The Ray operator for Kubernetes: runs RayCluster, RayJob, RayService and RayCronJob." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY ray-operator /usr/local/bin/ray-operator

USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ray-operator"]
CMD ["run"]
