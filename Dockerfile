# vigie agent image. Build: docker build -t vigie .
# Run the demo:    docker run --rm -p 8942:8942 vigie demo --listen 0.0.0.0:8942
# Run an agent:    docker run -v $PWD/vigie.yaml:/etc/vigie/vigie.yaml:ro \
#                    -v vigie-data:/var/lib/vigie -p 8942:8942 vigie
# (A later part of the work finishes this image: compose stack, lint, docs.)

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY probes probes
COPY correlator correlator
COPY ticket_sink ticket_sink
COPY vigie vigie
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/vigie --create-home vigie
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "vigie[postgres]" && rm -rf /wheels
USER vigie
WORKDIR /var/lib/vigie
VOLUME ["/var/lib/vigie"]
EXPOSE 8942
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8942/healthz', timeout=2).status != 200)"
ENTRYPOINT ["vigie"]
CMD ["run", "--config", "/etc/vigie/vigie.yaml", "--listen", "0.0.0.0:8942"]
