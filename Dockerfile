# The operator's image: `docker build -t <registry>/statuspage-operator:0.1.0 .`
#
# Two stages: the builder makes a wheel of the package and installs it into a venv with the
# locked runtime dependencies (requirements.lock); the final stage is the same base image plus
# that venv, run as a non-root user. No compiler is needed: every locked dependency ships a wheel.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes, not with every code change.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-deps /wheels/*.whl \
    && /opt/venv/bin/pip check

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
# The numeric user of distroless' "nonroot"; the Deployment's securityContext says the same.
USER 65532:65532
# kopf's liveness endpoint (with --liveness=http://0.0.0.0:8080/healthz) and Prometheus metrics.
EXPOSE 8080 9090
ENTRYPOINT ["statuspage-operator"]
