"""Database URL forms: Railway's postgres://, SQLAlchemy's driver URLs, plain libpq URLs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg URL for any postgres:// or postgresql:// URL."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


def libpq_url(url: str) -> str:
    """The plain postgresql:// URL (asyncpg.connect, psql) for any accepted form."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def redacted(url: str) -> str:
    """The URL with any password replaced, safe for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
