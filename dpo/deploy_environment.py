"""Settings built from a given environment, every invalid variable reported, then checked.

`check --deploy` judges an environment that may not be this process's (a `.env` merged with
os.environ, or a test's mapping): the settings are read from that mapping only, and a
variable that does not validate is reported and dropped so that the others are still judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
)

from dpo.deploy_checks import check_deploy
from dpo.deploy_problems import INVALID, Problem, problem
from dpo.settings import Settings, describe


class _MappingSource(EnvSettingsSource):
    """Environment variables read from a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {(k if self.case_sensitive else k.lower()): v for k, v in self._environ.items()}


# The mapping the next _FromMapping() reads; a context variable keeps concurrent calls apart.
_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("_ENVIRON")


class _FromMapping(Settings):
    """Settings read from _ENVIRON only: not os.environ, .env files or secrets directories."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read from the mapping set for this call only."""
        return (_MappingSource(settings_cls, _ENVIRON.get()),)


def _settings_from(environ: Mapping[str, str]) -> Settings:
    token = _ENVIRON.set(environ)
    try:
        return _FromMapping()
    finally:
        _ENVIRON.reset(token)


def check_environment(
    environ: Mapping[str, str],
    service: str | None = None,
) -> tuple[Settings | None, list[Problem]]:
    """Build Settings from this environment, reporting every invalid variable, then check it
    as the configuration of `service` (one of dpo.deploy_services.SERVICES, or None: any)."""
    remaining = dict(environ)
    invalid: dict[str, Problem] = {}
    while True:
        try:
            settings = _settings_from(remaining)
        except ValidationError as error:
            dropped = False
            for item, line in zip(error.errors(), describe(error), strict=True):
                variable, _, message = line.partition(": ")
                invalid.setdefault(variable, problem(variable, INVALID, f"is invalid: {message}"))
                # Drop the offending variable so the next attempt can reach the others.
                loc = str(item["loc"][0]).upper() if item["loc"] else ""
                for key in [k for k in remaining if k.upper() == loc]:
                    del remaining[key]
                    dropped = True
            if not dropped:
                return None, list(invalid.values())
            continue
        except SettingsError as error:
            # Raised before validation (e.g. undecodable JSON), so no variable can be dropped.
            return None, [*invalid.values(), problem("configuration", INVALID, str(error))]
        deploy = [p for p in check_deploy(settings, environ, service) if p.variable not in invalid]
        return settings, [*invalid.values(), *deploy]
