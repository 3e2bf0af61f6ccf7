# syntax=docker/dockerfile:1
# The production image of web, listener and cron (one image, three start commands; see
# docs/DEPLOY.md). It holds exactly uv.lock's production set: no extras, so no embedded
# servers and no test tools; no compiler in either stage (every locked package ships a wheel,
# and a source build would fail here instead of compiling); it runs as an unprivileged user.

# The interpreter the test suite runs on, pinned by digest so a rebuild gets the same bytes.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm@sha256:d11b9bd5e49ea7401753d78f4d3b56f3aec952b85b49bcae88981f0452818e0b

FROM ${PYTHON_IMAGE} AS build
# The same uv as `make setup` (Makefile UV_VERSION); it stays in this stage.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --root-user-action=ignore "uv==${UV_VERSION}"
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
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

FROM ${PYTHON_IMAGE}
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
# Railway's start commands (railway*.toml) replace this for the listener and cron services.
CMD ["python", "-m", "app", "web"]
