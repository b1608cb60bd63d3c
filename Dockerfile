# Podium's image: `python -m bot` as an unprivileged user, its web side on WEB_PORT (8080) for a reverse proxy
# and the health check. compose.yaml runs two of them on PostgreSQL; see README "Scaling out".

# The build stage installs into a virtual environment that the runtime stage copies whole, so neither pip's
# build dependencies nor the sources end up in the image that runs.
FROM python:3.11-slim AS build
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# pyproject.toml names README.md as the package's readme: the build needs it.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-cache-dir .

FROM python:3.11-slim
# WEB_HOST=0.0.0.0: inside a container, 127.0.0.1 is the container's own loopback, which a published port
# cannot reach; what is reachable from outside is decided where the port is published (compose.yaml binds it
# to the host's loopback). The bot's own default, 127.0.0.1, is right on a plain host, not here.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080
# A fixed UID, so a volume's files (data/, a mounted SQLite database or backup) keep one owner across rebuilds
# and hosts, and so orchestrators can check that it is not root.
RUN groupadd --system --gid 10001 podium \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin podium
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The default DATABASE_PATH (data/podium.sqlite3) resolves here. A named volume mounted on /app/data starts
# with this owner and mode, so the bot can create its database there; nobody else may read it.
RUN mkdir -p /app/data && chown 10001:10001 /app/data && chmod 0700 /app/data
USER 10001:10001
EXPOSE 8080
# GET /healthz on this process's web side (on only when PUBLIC_URL is set too): a 503, a refused connection or
# a timeout raises, and python exits 1, which Docker counts as unhealthy. urllib, as the slim image has no
# curl. `or '8080'`: an env file copied from .env.example sets WEB_PORT to an empty value.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + (os.environ.get('WEB_PORT') or '8080') + '/healthz', timeout=4)"]
# Exec form: python is PID 1 and gets SIGTERM itself, which stops the bot cleanly (README "Settings").
CMD ["python", "-m", "bot"]
