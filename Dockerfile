# The operator's image, which also serves the public page (`statuspage-server`): `make image`.
#
# Hermetic: the build reaches no package index. Its context is not the repository but a directory
# that tests/image/build.sh prepares outside it (see docs/image.md):
#   requirements.lock   the locked runtime dependencies
#   deps/*.whl          a wheel for each of them (CPython 3.11, manylinux, this machine's arch)
#   app/*.whl           the operator's own wheel
# Two stages on the same base: the builder makes the venv (with that base's python3, so the venv's
# interpreter link is right for both bases: /usr/local/bin/python3 in the official image,
# /usr/bin/python3 in the Debian base of offline builds); the final stage is the base plus the venv.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INDEX=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
# Dependencies first: a code-only change leaves this part of the recipe as it was.
COPY requirements.lock /src/
COPY deps/ /src/deps/
RUN /opt/venv/bin/pip install --only-binary=:all: --find-links=/src/deps -r /src/requirements.lock
COPY app/ /src/app/
# pip and setuptools are only needed here: the image runs without them.
RUN /opt/venv/bin/pip install --no-deps /src/app/*.whl \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/python3 -m pip uninstall -q -y pip setuptools

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
# The numeric user of distroless' "nonroot"; the Deployments' securityContext says the same. The
# image writes nothing at run time: it runs with a read-only root (and /tmp as an emptyDir).
USER 65532:65532
# kopf's liveness endpoint (with --liveness=http://0.0.0.0:8080/healthz) and Prometheus metrics.
EXPOSE 8080 9090
# The operator; the public page server is the same image with `command: ["statuspage-server"]`,
# the Alertmanager receiver with `command: ["statuspage-alerts"]`.
ENTRYPOINT ["statuspage-operator"]
