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
ENV CME_GATEWAY_CONFIG=/data/gateway.toml CME_GATEWAY_LISTEN_HOST=0.0.0.0
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)" || exit 1
CMD ["cme-gateway", "serve"]
