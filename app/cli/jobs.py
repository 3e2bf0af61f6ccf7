"""`dpo jobs run NAME` and `dpo jobs schedule`: the cron service's commands."""

from __future__ import annotations

import asyncio
import signal
import sys

import asyncpg
import click
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError

from app.cli.common import not_available, settings
from dpo.db.models.enums import RunStatus
from dpo.embedded.stack import ensure_services
from dpo.errors import ValidationError
from dpo.runs.runner import JobNotAvailableError, RunSkippedError, start_run
from dpo.runtime import Runtime
from dpo.settings import Settings
from jobs.registry import JOBS, job_named


@click.group()
def jobs() -> None:
    """Scheduled jobs: run one now, or run the scheduler."""


async def run_once(
    name: str, config: Settings, *, database_url: str, redis_url: str, full: bool
) -> int:
    """One run of a job: 0 when it succeeded or was skipped (another run holds it), else 1."""
    spec = job_named(name)
    runtime = Runtime.open(config, database_url=database_url, redis_url=redis_url)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        # SIGTERM stops the run cleanly: its row is marked failed (stopped), the lock released.
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        try:
            started = await start_run(
                spec,
                settings=config,
                sessions=runtime.sessions,
                redis=runtime.redis,
                database_url=database_url,
                full=full,
            )
        except RunSkippedError as skipped:
            click.echo(f"{skipped}")
            return 0
        except ProgrammingError:
            click.echo(
                f"{name}: cannot start, the database is not migrated (run `dpo migrate`)", err=True
            )
            return 1
        except (OSError, TimeoutError, asyncpg.PostgresError, SQLAlchemyError) as error:
            # Unreachable or refusing database: one line, no traceback, nothing started.
            click.echo(
                f"{name}: cannot start, the database is unavailable ({type(error).__name__})",
                err=True,
            )
            return 1
        click.echo(f"{name}: run {started.row.id} started")
        try:
            row = await started.execute()
        except asyncio.CancelledError:
            click.echo(f"{name}: run {started.row.id} stopped by a signal", err=True)
            return 1
        click.echo(
            f"{name}: run {row.id} {row.status} {row.counts}"
            + (f"\n{row.error}" if row.error else "")
        )
        return 0 if row.status == RunStatus.SUCCEEDED.value else 1
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await runtime.close()


@jobs.command("run")
@click.argument("name")
@click.option(
    "--full",
    is_flag=True,
    help="reconcile_positions: also re-derive on-chain positions from the events.",
)
def jobs_run(name: str, full: bool) -> None:
    """Run one job now (sync_fx_rates, sync_csd, reconcile_positions)."""
    try:
        spec = job_named(name)
    except ValidationError as error:
        raise click.BadParameter(error.message, param_hint="NAME") from None
    if full and not spec.has_full:
        raise click.BadParameter(f"{name} has no --full run", param_hint="--full")
    config = settings()
    if spec.run is None:
        not_available(f"the {name} job")
    services = ensure_services(config)
    try:
        code = asyncio.run(
            run_once(
                name,
                config,
                database_url=services.database_url,
                redis_url=services.redis_url,
                full=full,
            )
        )
    except JobNotAvailableError:
        not_available(f"the {name} job")
    finally:
        services.stop()
    sys.exit(code)


async def _schedule(config: Settings, database_url: str, redis_url: str) -> int:
    from jobs.notifications import deliver_notifications
    from jobs.payments import payment_worker
    from jobs.scheduler import Scheduler

    serve_metrics(config)
    runtime = Runtime.open(config, database_url=database_url, redis_url=redis_url)
    try:
        scheduler = Scheduler(
            runtime, database_url, companions=[deliver_notifications, payment_worker]
        )
        scheduler.install_signals()
        return await scheduler.run()
    finally:
        await runtime.close()


def serve_metrics(config: Settings) -> None:
    """The scheduler's Prometheus metrics on JOBS_METRICS_PORT (0: not served).

    Job runs (dpo.runs.metrics), the outbox (dpo.notifications.metrics), provider calls and
    the process; bound to every interface in production (a scraper on the
    private network), else to 127.0.0.1. Nothing secret is in them.
    """
    if not config.jobs_metrics_port:
        return
    from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

    from dpo.notifications import metrics as outbox_metrics
    from dpo.providers import metrics as provider_metrics
    from dpo.runs import metrics as job_metrics

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    for collector in (
        *job_metrics.COLLECTORS,
        *outbox_metrics.COLLECTORS,
        *provider_metrics.COLLECTORS,
    ):
        registry.register(collector)
    host = "0.0.0.0" if config.is_production else "127.0.0.1"  # noqa: S104
    try:
        start_http_server(config.jobs_metrics_port, addr=host, registry=registry)
    except OSError as error:
        click.echo(
            f"dpo jobs schedule: cannot serve metrics on {host}:"
            f"{config.jobs_metrics_port}: {error.strerror or error}",
            err=True,
        )
        sys.exit(1)
    click.echo(f"scheduler metrics on {host}:{config.jobs_metrics_port}/metrics")


@jobs.command("schedule")
def jobs_schedule() -> None:
    """Run the scheduler: each job on its interval (JOBS_SCHEDULE), one run at a time."""
    config = settings()
    services = ensure_services(config)
    try:
        code = asyncio.run(_schedule(config, services.database_url, services.redis_url))
    finally:
        services.stop()
    sys.exit(code)


__all__ = ["JOBS", "jobs"]
