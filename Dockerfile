# syntax=docker/dockerfile:1
# One image for the whole system:
#   docker run IMAGE                                          -> the bridge on :8080
#   docker run IMAGE consumers run consumers.cdr:archive      -> a consumer
# The journal (and the consumers' files) live under /data: mount a volume there, one per bridge instance.
ARG PYTHON_VERSION=3.12

# Build stage: install the locked dependencies (each file checked against its hash), then the package itself
# without dependencies. Every dependency ships manylinux wheels (uvloop, httptools, orjson), so no compiler is
# needed even here; none reaches the final image.
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/bridge
COPY requirements/runtime.txt ./requirements/
RUN /opt/bridge/bin/pip install --no-cache-dir --require-hashes --only-binary :all: -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY consumers ./consumers
# A regular (not editable) install: the final image needs only the virtualenv, not the sources.
RUN /opt/bridge/bin/pip install --no-cache-dir --no-deps . \
    && /opt/bridge/bin/pip uninstall --yes pip

# Final stage: the same Python base, the virtualenv, and a user that owns nothing but /data.
FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PATH=/opt/bridge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BRIDGE_JOURNAL_DIR=/data/journal \
    CDR_DIR=/data/cdr \
    SESSIONS_DB=/data/sessions.sqlite3 \
    CONSUMER_STATE_DIR=/data/state
RUN groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid bridge --home-dir /data --no-create-home --shell /usr/sbin/nologin bridge \
    && mkdir /data \
    && chown bridge:bridge /data
COPY --from=build /opt/bridge /opt/bridge
USER 10001:10001
WORKDIR /data
# A named volume mounted here starts with this directory's owner, so the non-root user can write its journal.
VOLUME ["/data"]
EXPOSE 8080
# The bridge's own liveness endpoint; there is no curl in a slim image, and Python is already here.
# Consumer containers disable this check (docker-compose.yml): they do not serve /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BRIDGE_PORT', '8080'), timeout=2)"]
# Exec form, no shell in between: SIGTERM from `docker stop` / Kubernetes reaches the process itself, which
# turns /readyz to 503, keeps serving for BRIDGE_SHUTDOWN_GRACE, drains and exits 0.
STOPSIGNAL SIGTERM
CMD ["bridge"]
