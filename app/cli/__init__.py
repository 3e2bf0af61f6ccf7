"""The `dpo` command: every service and operator task of the platform."""

from __future__ import annotations

import gc
import logging
import sys

import click

from app.cli import auth as cli_auth
from app.cli import chain as cli_chain
from app.cli import csd as cli_csd
from app.cli import db as cli_db
from app.cli import jobs as cli_jobs
from app.cli import sandbox as cli_sandbox
from app.cli import sender as cli_sender
from app.cli import up as cli_up
from app.cli.common import settings
from dpo.deploy_services import SERVICES
from dpo.settings import ConfigError

logger = logging.getLogger(__name__)

GC_GEN0_THRESHOLD = 7000  # Python's default is 700


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--public-urls",
    is_flag=True,
    help="Reach PostgreSQL and Redis by DATABASE_PUBLIC_URL and REDIS_PUBLIC_URL "
    "(Railway's TCP proxy): for `railway run`, which runs the command outside "
    "Railway, where the private network does not resolve.",
)
def cli(public_urls: bool) -> None:
    """DPO platform back end: web, listener, jobs and operator commands."""
    # --public-urls takes effect when the command reads its settings (app.cli.common.settings),
    # so `--help` needs no database variables.


@cli.command()
@click.option("--host", default=None, help="Interface to bind (default: 0.0.0.0 in production).")
@click.option("--port", type=int, default=None, help="Port (default: $PORT or 8000).")
@click.option("--migrate/--no-migrate", default=False, help="Apply migrations before serving.")
def web(host: str | None, port: int | None, migrate: bool) -> None:
    """Serve the GraphQL API, health and readiness over HTTP and WebSocket."""
    from app.server.serve import listen, serve
    from app.web import create_app
    from dpo.db.migrate import upgrade
    from dpo.embedded.stack import ensure_services

    config = settings()
    bind_host = host or ("0.0.0.0" if config.is_production else "127.0.0.1")  # noqa: S104
    bind_port = port or config.port
    # Bound before anything starts: a taken port ends the command at once, with one line.
    try:
        sock = listen(bind_host, bind_port)
    except OSError as error:
        click.echo(
            f"dpo web: cannot listen on {bind_host}:{bind_port}: {error.strerror or error}",
            err=True,
        )
        sys.exit(1)
    services = ensure_services(config)
    try:
        if migrate:
            upgrade(services.database_url)
        application = create_app(
            config, database_url=services.database_url, redis_url=services.redis_url
        )
        # Leave the start-up heap (modules, the schema) out of the cyclic GC: thousands of
        # sockets connecting at once trigger full collections, and each walked all of it too
        # (pauses of 0.5-1.7 s in bench/fanout).
        gc.collect()
        gc.freeze()
        # Young collections 10x less often: with 1,000 sockets, 1 full collection instead of 8
        # per bench/fanout run, the longest 0.08 s instead of 0.15 s (docs/BENCHMARKS.md).
        gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
        code = serve(application, sock, config, on_shutdown=application.state.drain.begin)
    finally:
        sock.close()
        services.stop()
    if code:
        sys.exit(code)


@cli.command()
@click.option(
    "--rewind",
    type=click.IntRange(min=0),
    default=None,
    metavar="BLOCK",
    help="First remove everything above BLOCK and re-sync from there.",
)
def listener(rewind: int | None) -> None:
    """Follow the chain and feed the database and subscribers."""
    from listener.service import main as run_listener

    sys.exit(run_listener(settings(), rewind_to=rewind))


@cli.command()
@click.option("--deploy", is_flag=True, help="Check the configuration for a production deploy.")
@click.option(
    "--service",
    type=click.Choice(SERVICES),
    default=None,
    help="With --deploy: judge this service's variables (default: "
    "$RAILWAY_SERVICE_NAME, as Railway sets it).",
)
def check(deploy: bool, service: str | None) -> None:
    """Check the configuration; with --deploy, list what production must fix."""
    import os

    from dotenv import dotenv_values

    from dpo.deploy_environment import check_environment
    from dpo.deploy_problems import INVALID, format_problems
    from dpo.deploy_services import resolve_service

    if service is not None and not deploy:
        raise click.UsageError("--service applies to --deploy only")
    # The same sources the services read: .env, overridden by the real environment.
    environ = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    environ.update(os.environ)
    judged, problems = resolve_service(service, environ) if deploy else (None, [])
    # check_environment already runs the deploy checks; without --deploy only invalid
    # variables count.
    _, found = check_environment(environ, judged)
    problems += found
    if deploy:
        from dpo.deploy_install import check_install

        problems += check_install()
    else:
        problems = [problem for problem in problems if problem.id == INVALID]
    if problems:
        click.echo(format_problems(problems))
        sys.exit(1)
    click.echo("System check identified no issues." if deploy else "Configuration is valid.")


for command in (
    cli_db.migrate,
    cli_db.showmigrations,
    cli_db.makemigrations,
    cli_db.create_admin,
    cli_up.up,
    cli_chain.contracts,
    cli_auth.api_key,
    cli_jobs.jobs,
    cli_sandbox.sandbox,
    cli_csd.csd,
    cli_sender.sender,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: configuration errors end in one clear line and exit code 2."""
    try:
        cli.main(args=argv, prog_name="dpo", standalone_mode=True)
    except ConfigError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)
