# dbindex-operator container image.
#
# Build:  docker build -t dbindex-operator:0.1.0 .
# The image runs `dbindex-operator run --all-namespaces` by default; the Kubernetes manifests in
# deploy/ and the Helm chart in charts/ replace CMD (container `args`) with their own flags.

# --- build stage: install the package and its runtime dependencies into a virtualenv ---------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only what the package build needs (see .dockerignore): no tests, no dev extras.
COPY pyproject.toml README.md ./
COPY operator ./operator
# pip compiles the bytecode here, so nothing needs to be written at run time.
RUN python -m venv /opt/dbindex-operator \
 && /opt/dbindex-operator/bin/pip install .

# --- runtime stage: the virtualenv only, run as a non-root numeric user ----------------------
FROM python:3.11-slim
COPY --from=build /opt/dbindex-operator /opt/dbindex-operator
# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only in the cluster (bytecode was
# compiled at build time). PYTHONUNBUFFERED: log lines reach `kubectl logs` immediately.
ENV PATH=/opt/dbindex-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric UID/GID (not a name) so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# 8080: liveness endpoint (/healthz, served by --liveness); 9090: Prometheus metrics.
EXPOSE 8080 9090
ENTRYPOINT ["dbindex-operator", "run"]
CMD ["--all-namespaces"]
