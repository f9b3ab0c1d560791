# Vibegrapher: daphne (WEB_PROCESSES of them) serving Django + Channels on $PORT.
# Python matches what the suite runs on (3.11).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8080 \
    MEDIA_ROOT=/data/media

# bubblewrap: the diff-test sandbox; libseccomp2: its syscall filter (through pyseccomp);
# graphviz: `dot` lays out the workflow graph (SVG) on the server;
# prlimit (util-linux) is already in the base image. pygit2's wheel carries libgit2, so
# no system git library is needed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap libseccomp2 graphviz \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time; settings need a key to load, not this one.
RUN DEBUG=false SECRET_KEY=build-only-not-secret python manage.py collectstatic --no-input -v0

# The code stays root-owned and read-only; the app user owns only the volume.
RUN useradd --create-home --uid 1000 app \
    && mkdir -p /data/media \
    && chown -R app:app /data
# The container starts as root only to give `app` a cgroup subtree (the diff-test
# sandbox's memory budget needs one), then runs its command as `app`.
ENTRYPOINT ["/app/docker-entrypoint.sh"]

EXPOSE 8080
# WEB_PROCESSES daphne processes share the port (vibegrapher/server/serve.py; more than one
# needs REDIS_URL); 1 is plain daphne.
CMD ["sh", "-c", "exec python -m vibegrapher.server.serve -b 0.0.0.0 -p \"${PORT}\" vibegrapher.asgi:application"]
