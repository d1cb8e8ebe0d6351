# vigie agent image: the agent, the lab and `vigie demo`, as a non-root user.
#
#   docker build -t vigie .
#   docker run --rm -p 127.0.0.1:8942:8942 vigie demo --listen 0.0.0.0:8942
#   docker run -v "$PWD/vigie.yaml:/etc/vigie/vigie.yaml:ro" -v vigie-data:/var/lib/vigie \
#     -p 127.0.0.1:8942:8942 vigie
#
# Volumes: /etc/vigie holds the configuration (vigie.yaml, trust anchors, participant
# lists), mounted read-only; /var/lib/vigie is the working directory and holds the SQLite
# ticket store when the configuration's store.url is relative (sqlite:///vigie.db).
# deploy/compose.yaml runs it next to Prometheus, Alertmanager and Grafana.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/vigie
COPY pyproject.toml README.md ./
COPY vocab vocab
COPY probes probes
COPY correlator correlator
COPY ticket_sink ticket_sink
COPY vigie vigie
# Only the project and its declared dependencies go into the virtualenv that is copied on.
RUN /opt/vigie/bin/pip install ".[postgres]" \
 && /opt/vigie/bin/python -m compileall -q /opt/vigie/lib

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/vigie/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/vigie --create-home vigie \
 && mkdir -p /etc/vigie
COPY --from=build /opt/vigie /opt/vigie
USER 10001:10001
WORKDIR /var/lib/vigie
VOLUME ["/var/lib/vigie"]
EXPOSE 8942
# /healthz answers 200 while the process is alive (/readyz once the store is open).
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8942/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["vigie"]
CMD ["run", "--config", "/etc/vigie/vigie.yaml", "--listen", "0.0.0.0:8942"]
