# syntax=docker/dockerfile:1
# als-bridge container image. Build: docker build -t als-bridge:0.1.0 .
#
# Stage 1 builds the bridge's wheel and the wheels of its dependencies (all of which ship
# manylinux wheels: nothing is compiled). Stage 2 installs them from that directory alone, with
# no compiler, no pip cache and no test extras, and runs as a fixed non-root user that can write
# nowhere but /var/lib/als-bridge, so the root filesystem can be mounted read-only.
# The base is pinned by version; pin it by digest too (python:3.12.11-slim-bookworm@sha256:...)
# where your registry policy asks for it. The tests run the same recipe without a container
# engine (tests/deploy/test_container_recipe.py).

ARG PYTHON_IMAGE=python:3.12.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bridge ./bridge
# --only-binary: a dependency without a wheel for this platform fails the build here, rather than
# being compiled (stage 2 has no compiler, and none is wanted in the image).
RUN python -m pip wheel --no-cache-dir --only-binary=:all: --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG UID=10001
ARG GID=10001
LABEL org.opencontainers.image.title="als-bridge" \
      org.opencontainers.image.description="Envoy access logs (ALS) in, OpenTelemetry traces, metrics and logs with the identity of both ends out" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/${PYTHON_IMAGE}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --only-binary=:all: --find-links /wheels "als-bridge==${VERSION}" \
    && groupadd --system --gid "${GID}" als-bridge \
    && useradd --system --uid "${UID}" --gid "${GID}" --no-create-home --home-dir /var/lib/als-bridge \
       --shell /usr/sbin/nologin als-bridge \
    && mkdir -p /etc/als-bridge /var/lib/als-bridge \
    && chown "${UID}:${GID}" /var/lib/als-bridge
COPY --chmod=0444 deploy/docker/config.yaml /etc/als-bridge/config.yaml
# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER ${UID}:${GID}
WORKDIR /var/lib/als-bridge
# 11800 ALS (gRPC), 9464 the prometheus exporter's scrape, 13133 the health_check extension
EXPOSE 11800 9464 13133
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:13133/healthz', timeout=2)"]
ENTRYPOINT ["als-bridge"]
CMD ["--config", "/etc/als-bridge/config.yaml"]
