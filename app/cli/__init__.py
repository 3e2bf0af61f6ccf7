"""The `dpo` command: every service and operator task of the platform."""

from __future__ import annotations

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
    from app.server.cores import worker_count
    from app.server.serve import listen
    from app.server.workers import Supervisor, run_application
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
        urls = (services.database_url, services.redis_url)
        count = worker_count(config.web_concurrency)
        if count == 1:
            code = run_application(config, sock, database_url=urls[0], redis_url=urls[1])
        else:
            code = Supervisor(count, sock, config, database_url=urls[0], redis_url=urls[1]).run()
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
