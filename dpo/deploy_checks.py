"""Production readiness checks, the equivalent of Django's `manage.py check --deploy`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from eth_utils.address import is_checksum_address
from pydantic import SecretStr

from dpo.chain_ids import NETWORKS
from dpo.deploy_problems import Problem, problem
from dpo.deploy_services import wallet_key_problem
from dpo.settings import Settings, is_placeholder

ONE_YEAR = 31_536_000
ZERO_ADDRESS = "0x" + "0" * 40
# Keys of anvil's (and hardhat's) default accounts 0-9, from the public "test ... junk" mnemonic.
ANVIL_KEYS = frozenset(
    {
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
        "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
        "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
        "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
        "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
        "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
    }
)
KNOWN_DEFAULTS = frozenset(
    {
        "changeme",
        "change-me",
        "changeit",
        "secret",
        "secret-key",
        "secretkey",
        "your-secret-key",
        "password",
        "default",
        "dev",
        "development",
        "insecure",
        "test",
        "testing",
        "example",
    }
)
# Shell syntax pasted unexpanded, e.g. the runbook's `$(openssl rand -hex 32)`.
SHELL_SUBSTITUTION = re.compile(r"\$\(|\$\{|`")
API_KEYS = (
    "OMNISEND_API_KEY",
    "BILLBITTS_API_KEY",
    "EUROCLEAR_API_KEY",
    "CLEARSTREAM_PMI_KEY",
    "XETRA_API_KEY",
)
API_BASES = (
    "OMNISEND_API_BASE",
    "BILLBITTS_API_URL",
    "EUROCLEAR_API_BASE",
    "CLEARSTREAM_PMI_BASE",
    "XETRA_API_BASE",
)


# Every variable Settings reads, DJANGO_SECRET_KEY and SECRET_KEY included.
SETTING_NAMES = frozenset(
    name
    for field in Settings.model_fields.values()
    for name in [field.alias, *getattr(field.validation_alias, "choices", [])]
    if isinstance(name, str)
)


class _Collector:
    """Gathers problems in check order, at most one per variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        # Settings match variable names case-insensitively, so compare upper-cased names.
        self.raw = {name.upper(): value for name, value in environ.items()}
        self.problems: list[Problem] = []
        self._seen: set[str] = set()

    def check(self, name: str) -> bool:
        """Report a placeholder or shell text first; tell whether rules should still run."""
        if name in self._seen:
            return False
        self._seen.add(name)
        value = self.raw.get(name)
        if value is None:
            return True
        known = name in SETTING_NAMES
        if is_placeholder(value):
            unread = "" if known else " (the platform does not read it)"
            self.add(name, "dpo.E004" if known else "dpo.W008", f"is a runbook placeholder{unread}")
            return False
        if known and SHELL_SUBSTITUTION.search(value):
            self.add(
                name,
                "dpo.E005",
                "holds unexpanded shell syntax such as $(...); set the command's output instead",
            )
            return False
        return True

    def add(self, name: str, problem_id: str, message: str) -> None:
        """Record a problem for a variable."""
        self.problems.append(problem(name, problem_id, message))


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _plain_text_url(url: str) -> bool:
    """Tell whether a URL goes unencrypted to another machine."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    local = host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")
    return parts.scheme in ("http", "ws") and not local


def _check_secret(c: _Collector, name: str, value: str | None, min_length: int) -> None:
    if value is None or not value.strip():
        c.add(name, "dpo.E003", "is not set")
    elif value.strip().lower() in KNOWN_DEFAULTS:
        c.add(name, "dpo.E006", "is a well-known default value")
    elif value.startswith("django-insecure-"):
        c.add(name, "dpo.E007", "is a generated development key ('django-insecure-' prefix)")
    elif len(value) < min_length or len(set(value)) < 5:
        c.add(
            name,
            "dpo.E007",
            f"is too weak: use at least {min_length} random characters "
            "with at least 5 distinct ones",
        )


def _check_core(c: _Collector, settings: Settings) -> None:
    if c.check("DEBUG") and settings.debug:
        c.add("DEBUG", "dpo.E001", "is on: error pages would expose code and settings")
    if c.check("ENVIRONMENT") and not settings.is_production:
        c.add("ENVIRONMENT", "dpo.E002", f"is {settings.environment!r}, not 'production'")
    # Settings prefer DJANGO_SECRET_KEY; report under the name the operator actually set.
    only_short = "SECRET_KEY" in c.raw and "DJANGO_SECRET_KEY" not in c.raw
    key_name = "SECRET_KEY" if only_short else "DJANGO_SECRET_KEY"
    if c.check(key_name):
        _check_secret(c, key_name, _secret(settings.secret_key), 50)
    if c.check("ALLOWED_HOSTS"):
        if not settings.allowed_hosts:
            c.add("ALLOWED_HOSTS", "dpo.E008", "is empty: no request would be served")
        elif "*" in settings.allowed_hosts:
            c.add("ALLOWED_HOSTS", "dpo.E009", "contains '*': any Host header is accepted")
    if c.check("DATABASE_URL") and settings.database_url is None:
        c.add("DATABASE_URL", "dpo.E003", "is not set: the embedded PostgreSQL is for development")
    if c.check("REDIS_URL") and settings.redis_url is None:
        c.add("REDIS_URL", "dpo.E003", "is not set: the embedded Redis is for development")


def _check_http(c: _Collector, settings: Settings) -> None:
    if c.check("SECURE_SSL_REDIRECT") and not settings.secure_ssl_redirect:
        c.add("SECURE_SSL_REDIRECT", "dpo.W001", "is off: plain HTTP requests are served")
    if c.check("SECURE_HSTS_SECONDS"):
        if settings.secure_hsts_seconds == 0:
            c.add("SECURE_HSTS_SECONDS", "dpo.W002", "is 0: HTTP Strict Transport Security is off")
        elif settings.secure_hsts_seconds < ONE_YEAR:
            c.add("SECURE_HSTS_SECONDS", "dpo.W003", f"is below one year ({ONE_YEAR})")
    if c.check("CORS_ALLOWED_ORIGINS"):
        origins = settings.cors_allowed_origins
        insecure = [o for o in origins if o.lower().startswith("http://")]
        if "*" in origins:
            c.add("CORS_ALLOWED_ORIGINS", "dpo.E010", "contains '*': any site may call the API")
        elif insecure:
            c.add("CORS_ALLOWED_ORIGINS", "dpo.W004", f"has plain http:// origins: {insecure}")
        elif not origins:
            c.add("CORS_ALLOWED_ORIGINS", "dpo.W005", "is empty: browsers may not call the API")
    for name in ("WEBHOOK_SECRET", "API_HMAC_SECRET"):
        if c.check(name):
            _check_secret(c, name, _secret(getattr(settings, name.lower())), 32)


def _check_chain(c: _Collector, settings: Settings, service: str | None) -> None:
    urls = {
        "QUICKNODE_URL": _secret(settings.quicknode_url),
        "BLOCKCHAIN_RPC_URL": _secret(settings.blockchain_rpc_url),
    }
    for name, url in urls.items():
        others = [other for other, value in urls.items() if other != name and value is not None]
        if not c.check(name):
            continue
        if url is None and others:
            c.add(name, "dpo.W007", f"is not set: {others[0]} is the only RPC endpoint")
        elif url is None:
            c.add(name, "dpo.E003", "is not set: the listener has no RPC endpoint")
        elif _plain_text_url(url):
            c.add(name, "dpo.W006", "uses plain http:// or ws:// to a remote host")
    if c.check("BLOCKCHAIN_NETWORK") and settings.chain_id == NETWORKS["anvil"]:
        c.add(
            "BLOCKCHAIN_NETWORK",
            "dpo.E011",
            f"is {settings.blockchain_network!r} "
            f"(chain id {settings.chain_id}), a local development chain",
        )
    for name, address in settings.contract_addresses().items():
        if not c.check(name):
            continue
        if address is None:
            c.add(name, "dpo.E003", "is not set")
        elif address.lower() == ZERO_ADDRESS:
            c.add(name, "dpo.E012", "is the zero address")
        elif not is_checksum_address(address):
            c.add(name, "dpo.E013", "is not EIP-55 checksummed (mistyped or all lower case)")
    key = _secret(settings.wallet_private_key)
    if c.check("WALLET_PRIVATE_KEY"):
        digits = (key or "").strip().lower().removeprefix("0x")
        if placed := wallet_key_problem(service, bool(digits)):
            c.add("WALLET_PRIVATE_KEY", *placed)
        elif digits in ANVIL_KEYS:
            c.add("WALLET_PRIVATE_KEY", "dpo.E014", "is a publicly known anvil development key")


def _key_file_problem(path: Path | None) -> tuple[str, str] | None:
    if path is None:
        return "dpo.E003", "is not set"
    try:
        with path.open("rb") as handle:
            # PEM keys are small; the marker sits in the first bytes of the file.
            head = handle.read(65536)
    except FileNotFoundError:
        return "dpo.E015", f"names {str(path)!r}, which does not exist"
    except OSError as error:
        return "dpo.E016", f"names {str(path)!r}, which cannot be read ({error.strerror})"
    if b"-----BEGIN" not in head:
        return "dpo.E017", f"names {str(path)!r}, which is not a PEM file"
    return None


def _check_services(c: _Collector, settings: Settings) -> None:
    for name in API_KEYS:
        if c.check(name) and getattr(settings, name.lower()) is None:
            c.add(name, "dpo.E003", "is not set")
    path = settings.billbitts_private_key_path
    if c.check("BILLBITTS_PRIVATE_KEY_PATH") and (found := _key_file_problem(path)):
        c.add("BILLBITTS_PRIVATE_KEY_PATH", *found)
    for name in ("CLEARSTREAM_PARTICIPANT_ID", "XETRA_PARTICIPANT_ID"):
        c.check(name)
    for name in API_BASES:
        if c.check(name) and _plain_text_url(str(getattr(settings, name.lower()))):
            c.add(name, "dpo.W006", "uses plain http:// to a remote host: the key goes unencrypted")


def check_deploy(
    settings: Settings, environ: Mapping[str, str], service: str | None = None
) -> list[Problem]:
    """List every production misconfiguration of these settings and this raw environment, as
    the configuration of `service` (dpo.deploy_services.SERVICES; None: rules for all)."""
    c = _Collector(environ)
    _check_core(c, settings)
    _check_http(c, settings)
    _check_chain(c, settings, service)
    _check_services(c, settings)
    # Whatever no rule looked at still gets the placeholder and shell-syntax checks.
    for name in sorted(c.raw):
        c.check(name)
    return c.problems
