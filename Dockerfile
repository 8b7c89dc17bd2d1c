# Renkei hub image. Without RENKEI_DATABASE_URL the hub starts its embedded PostgreSQL in
# RENKEI_DATA_DIR; docker-compose.yml points it at a postgres:16 service instead.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md /src/
COPY contracts /src/contracts
COPY registry /src/registry
COPY authz /src/authz
COPY adapters /src/adapters
COPY hub /src/hub
COPY services /src/services
RUN pip install /src && rm -rf /src

RUN useradd --create-home --uid 10001 renkei
USER renkei
WORKDIR /home/renkei

# Every setting is a RENKEI_<NAME> variable (docs/configuration.md).
ENV RENKEI_HOST=0.0.0.0 \
    RENKEI_PORT=1026 \
    RENKEI_DATA_DIR=/home/renkei/.renkei
EXPOSE 1026

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RENKEI_PORT', '1026') + '/ngsi-ld/v1/types', timeout=3)"]

CMD ["renkei", "serve"]
