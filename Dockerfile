# syntax=docker/dockerfile:1
# The production image of web, listener, sender and cron (one image, four start commands; see
# docs/DEPLOY.md). It holds exactly uv.lock's production set: no extras, so no embedded
# servers and no test tools; no compiler in any stage (every locked package ships a wheel,
# and a source build would fail here instead of compiling); it runs as an unprivileged user.

# Debian's slim base, pinned by digest so a rebuild starts from the same bytes. The Python is
# Debian's own 3.11 (the minor version the suite runs on), patched by Debian's security team:
# why not python:3.11.x-slim, docs/DEPLOY.md, "The base and its Python".
ARG DEBIAN_IMAGE=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

FROM ${DEBIAN_IMAGE} AS runtime
# The interpreter and the CA certificates (TLS to the databases, the RPC nodes and the
# providers), from bookworm and bookworm-security. Unpinned on purpose: Debian replaces a
# version in its archive when it ships a fix, so a pinned one would stop the build instead
# of taking the fix; the versions a build got are listed by `make image` (docs/DEPLOY.md).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3.11 \
    && rm -rf /var/lib/apt/lists/*

FROM runtime AS build
# The same uv as `make setup` (Makefile UV_VERSION), installed by Debian's pip; both stay in
# this stage.
ARG UV_VERSION=0.13.9
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-pip \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir --break-system-packages --root-user-action=ignore \
       "uv==${UV_VERSION}"
# UV_NATIVE_TLS: uv trusts Debian's CA bundle (updated with ca-certificates), as pip does,
# instead of the roots compiled into it.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/bin/python3.11 \
    UV_NATIVE_TLS=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /app
# The dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-install-project
COPY manage.py ./
COPY app app
COPY dpo dpo
COPY schema schema
COPY resolvers resolvers
COPY listener listener
COPY jobs jobs
COPY sandbox sandbox
COPY migrations migrations
COPY contracts/artifacts contracts/artifacts
# The project itself (the `dpo` command), editable: migrations and contract artefacts are
# read from /app.
RUN uv sync --locked

# The runtime stage again, without pip and uv: the interpreter /app/.venv was made with.
FROM runtime
RUN groupadd --system --gid 10001 dpo \
    && useradd --system --uid 10001 --gid dpo --no-create-home --shell /usr/sbin/nologin dpo
WORKDIR /app
# Owned by root and read-only for the service user: the code cannot be changed at run time.
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    ENVIRONMENT=production \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 8000
# Railway's start commands (railway*.toml) replace this for the other services.
CMD ["python", "-m", "app", "web"]
