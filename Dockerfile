# Broadsheet worker image: slim Python, non-root, config read-only at /config, data at /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BROADSHEET_CONFIG=/config/broadsheet.toml \
    BROADSHEET_DATABASE_URL=sqlite:////data/broadsheet.db \
    BROADSHEET_OUTPUT_DIR=/data/out

WORKDIR /app
COPY pyproject.toml README.md ./
COPY broadsheet ./broadsheet
COPY ingest ./ingest
COPY digests ./digests
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin broadsheet \
 && mkdir -p /data /config \
 && chown broadsheet /data

# The shipped config as a default; mount your own at /config (read-only is fine).
COPY config/broadsheet.toml /config/broadsheet.toml

USER broadsheet
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=15s --start-period=120s --retries=3 \
  CMD ["broadsheet", "health"]
ENTRYPOINT ["broadsheet"]
CMD ["worker"]
