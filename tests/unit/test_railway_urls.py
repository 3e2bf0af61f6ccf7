"""dpo/railway_urls.py: the databases' public URLs for `railway run`, or one clear refusal."""

from __future__ import annotations

import pytest

from dpo.railway_urls import public_urls
from dpo.settings import ConfigError

PASSWORD = "s3cret-Pw-91"
GOOD = {
    "DATABASE_PUBLIC_URL": f"postgresql://postgres:{PASSWORD}@roundhouse.proxy.rlwy.net:11105/railway",
    "REDIS_PUBLIC_URL": f"redis://default:{PASSWORD}@monorail.proxy.rlwy.net:23145",
    "DATABASE_URL": f"postgresql://postgres:{PASSWORD}@postgres.railway.internal:5432/railway",
    "REDIS_URL": f"redis://default:{PASSWORD}@redis.railway.internal:6379",
}


def test_the_public_urls_replace_the_private_ones() -> None:
    assert public_urls(GOOD) == {
        "DATABASE_URL": GOOD["DATABASE_PUBLIC_URL"],
        "REDIS_URL": GOOD["REDIS_PUBLIC_URL"],
    }
    tls = {
        **GOOD,
        "DATABASE_PUBLIC_URL": GOOD["DATABASE_PUBLIC_URL"].replace("postgresql", "postgres"),
        "REDIS_PUBLIC_URL": GOOD["REDIS_PUBLIC_URL"].replace("redis:", "rediss:"),
    }
    assert public_urls(tls)["REDIS_URL"].startswith("rediss://")


def _refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        public_urls(environ)
    message = str(caught.value)
    assert PASSWORD not in message
    assert "\n" not in message
    return message


def test_both_missing_are_named_in_one_line() -> None:
    message = _refusal({"DATABASE_URL": GOOD["DATABASE_URL"], "REDIS_PUBLIC_URL": "  "})
    assert message.startswith(
        "--public-urls: DATABASE_PUBLIC_URL: not set (enable the database's TCP proxy"
    )
    assert "; REDIS_PUBLIC_URL: not set" in message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("${{Postgres.DATABASE_PUBLIC_URL}}", "is a Railway reference that did not resolve"),
        (
            f"postgresql://postgres:{PASSWORD}@postgres.railway.internal:5432/railway",
            "names the private network",
        ),
        (
            f"mysql://root:{PASSWORD}@roundhouse.proxy.rlwy.net:11105/railway",
            "is not a postgresql:// URL",
        ),
        (
            f"postgresql://postgres:{PASSWORD}@roundhouse.proxy.rlwy.net:99999/railway",
            "is not a URL",
        ),
        (f"postgresql://postgres:{PASSWORD}@:5432/railway", "names no host and port"),
        (
            f"postgresql://postgres:{PASSWORD}@roundhouse.proxy.rlwy.net/railway",
            "names no host and port",
        ),
        ("postgresql://[::1/x", "is not a URL"),
        ("postgresql://" + "a" * 5000 + ":1/x", "is longer than 4096 characters"),
        (f"redis://default:{PASSWORD}@monorail.proxy.rlwy.net:23145", "is not a postgresql://"),
    ],
)
def test_an_unusable_public_url_is_refused(value: str, reason: str) -> None:
    message = _refusal({**GOOD, "DATABASE_PUBLIC_URL": value})
    assert message.startswith(f"--public-urls: DATABASE_PUBLIC_URL: {reason}")


def test_a_redis_url_of_the_wrong_kind_is_refused() -> None:
    message = _refusal({**GOOD, "REDIS_PUBLIC_URL": GOOD["DATABASE_PUBLIC_URL"]})
    assert message == "--public-urls: REDIS_PUBLIC_URL: is not a rediss:// URL"


def test_the_environment_is_not_changed() -> None:
    environ = dict(GOOD)
    public_urls(environ)
    assert environ == GOOD
