# One image runs any Liveloop service:  docker run liveloop serve orders --host 0.0.0.0 --port 8103
# Stage "localstripe" is the Stripe emulator used by docker-compose.yml (never in production).

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --system --create-home --uid 10001 liveloop
WORKDIR /app
COPY requirements.lock ./


FROM base AS localstripe
RUN pip install -c requirements.lock localstripe
COPY infra/localstripe/start.sh /usr/local/bin/localstripe-start
USER liveloop
EXPOSE 8420
CMD ["localstripe-start"]


FROM base AS app
# The lock (which also pins dev and embedded tools) is used as constraints: exact
# versions, but only the runtime dependencies get installed. Dependencies first, so a
# code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/runtime.txt \
 && pip install -c requirements.lock -r /tmp/runtime.txt \
 && rm /tmp/runtime.txt
COPY README.md ./
COPY libs ./libs
COPY services ./services
# Editable: migrations (*.sql) and pages (*.html) are read from the source tree exactly
# as in development, whatever the package layout of their folders.
RUN pip install --no-deps -e . && liveloop --help > /dev/null
USER liveloop
EXPOSE 8101 8102 8103 8104 8105
ENTRYPOINT ["liveloop"]
CMD ["serve", "shop", "--host", "0.0.0.0", "--port", "8102"]
