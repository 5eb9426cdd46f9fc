# syntax=docker/dockerfile:1
# The backup-agent image: a builder stage makes a wheel and a virtual environment, the final
# stage copies only the environment. BASE_IMAGE is any slim Python (3.11+) on Debian; CI, which
# reaches no image registry, passes a local Debian bookworm base (python3 + python3-venv).
#
#   docker build -t backup-agent .
#   docker run -v ./agent.toml:/etc/backup-agent/agent.toml:ro -v agent-data:/var/lib/backup-agent backup-agent
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The dependencies first, from pyproject.toml alone, so a change of the agent's code reuses them.
COPY pyproject.toml ./
RUN python3 -m venv /opt/backup-agent \
 && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
 && /opt/backup-agent/bin/pip install -r /tmp/requirements.txt
COPY README.md ./
COPY backup_agent ./backup_agent
COPY providers ./providers
# pip and setuptools are not needed to run (a python:3.12 venv has no setuptools: 2>/dev/null).
RUN /opt/backup-agent/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && /opt/backup-agent/bin/pip install --no-deps /tmp/wheels/*.whl \
 && /opt/backup-agent/bin/pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null
COPY deploy/container/backup-agent deploy/container/backup-agent-healthcheck /opt/backup-agent/container/

FROM ${BASE_IMAGE}
# Set both when publishing: --build-arg VERSION=$(version) --build-arg SOURCE_URL=<the repository>
ARG VERSION=0.1.0
ARG SOURCE_URL=https://example.invalid/backup-agent
LABEL org.opencontainers.image.title="backup-agent" \
      org.opencontainers.image.description="Keeps Pexip Infinity deployments recoverable" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed uid/gid, so volumes and Kubernetes' fsGroup/runAsUser can name it.
RUN groupadd --gid 10001 backup-agent \
 && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home --home-dir /var/lib/backup-agent \
      --shell /usr/sbin/nologin backup-agent \
 && mkdir -p /etc/backup-agent /var/lib/backup-agent \
 && chown 10001:10001 /var/lib/backup-agent \
 && chmod 0700 /var/lib/backup-agent
COPY --from=builder /opt/backup-agent /opt/backup-agent
# /usr/local/bin/backup-agent is a launcher that supplies the image's defaults (the config path
# and the listen address) and then runs the agent in the same process: PID 1 is the agent.
RUN install -m 0755 /opt/backup-agent/container/backup-agent /usr/local/bin/backup-agent \
 && install -m 0755 /opt/backup-agent/container/backup-agent-healthcheck /usr/local/bin/backup-agent-healthcheck
ENV PATH=/usr/local/bin:/opt/backup-agent/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    BACKUP_AGENT_CONFIG=/etc/backup-agent/agent.toml \
    BACKUP_AGENT_IMAGE_LISTEN=0.0.0.0:9464
USER 10001:10001
WORKDIR /var/lib/backup-agent
VOLUME ["/var/lib/backup-agent"]
EXPOSE 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["backup-agent-healthcheck"]
ENTRYPOINT ["backup-agent"]
CMD ["run"]
