# CME Gateway: one gateway per container. Mount /data with gateway.toml, keys/, inbox/ and
# outbox/ (run `cme-gateway init --party <id> --dir /data` once to create them).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 gateway
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
# A normal install: the XSDs and sample messages are package data, so schemas/ and examples/
# (the published copies) are not needed in the image.
RUN pip install --no-cache-dir .
USER gateway
VOLUME ["/data"]
# The port is set here, not left to the config file (the environment overrides the file), so
# that EXPOSE and the health check agree with it; `docker run -e CME_GATEWAY_LISTEN_PORT=...`
# moves all three.
ENV CME_GATEWAY_CONFIG=/data/gateway.toml CME_GATEWAY_LISTEN_HOST=0.0.0.0 \
    CME_GATEWAY_LISTEN_PORT=8000
EXPOSE 8000
HEALTHCHECK CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['CME_GATEWAY_LISTEN_PORT'] + '/healthz', timeout=3)" || exit 1
CMD ["cme-gateway", "serve"]
