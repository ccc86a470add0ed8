from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from bridge.archive.database import ArchiveUnavailable, create_engine, normalize_url, translate_error
from bridge.errors import ArchiveError, ConfigError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/bridge.db", "sqlite+aiosqlite:///var/bridge.db"),
        ("sqlite+aiosqlite:///./var/bridge.db", "sqlite+aiosqlite:///./var/bridge.db"),
        ("sqlite:////abs/bridge.db", "sqlite+aiosqlite:////abs/bridge.db"),
        ("postgresql://u@db:5432/bridge", "postgresql+asyncpg://u@db:5432/bridge"),
        ("postgres://u@db/bridge", "postgresql+asyncpg://u@db/bridge"),
        ("postgresql+asyncpg://u@db/bridge", "postgresql+asyncpg://u@db/bridge"),
    ],
)
def test_urls_map_to_async_drivers(url: str, expected: str) -> None:
    assert normalize_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    "url",
    ["mysql://u@db/x", "postgresql+psycopg2://u@db/x", "sqlite://", "sqlite:///:memory:", "not a url"],
)
def test_unusable_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        normalize_url(url)


def test_schema_is_postgres_only_and_must_be_an_identifier() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"):
        create_engine("sqlite:///x.db", schema="s")
    with pytest.raises(ConfigError, match="schema name"):
        create_engine("postgresql://u@db/x", schema='x"; DROP TABLE calls; --')


def _orig(message: str) -> Exception:
    return Exception(message)


def test_transient_errors_are_archive_unavailable() -> None:
    for exc in (
        sa_exc.OperationalError("INSERT INTO calls ...", {"text": "secret"}, _orig("database is locked")),
        sa_exc.InterfaceError("SELECT 1", {}, _orig("connection is closed")),
        ConnectionRefusedError(111, "refused"),
        TimeoutError("slow"),
    ):
        translated = translate_error(exc, "write to the archive")
        assert isinstance(translated, ArchiveUnavailable), exc
        assert translated.args[0].startswith("write to the archive: archive database unavailable: ")
    invalidated = sa_exc.DBAPIError("SELECT 1", {}, _orig("terminating connection"), connection_invalidated=True)
    assert isinstance(translate_error(invalidated, "x"), ArchiveUnavailable)


def test_refusals_are_plain_archive_errors_without_the_sql() -> None:
    refused = sa_exc.IntegrityError(
        "INSERT INTO call_events VALUES (?)", {"data": "caller said secret"}, _orig("FOREIGN KEY constraint failed")
    )
    translated = translate_error(refused, "write to the archive")
    assert type(translated) is ArchiveError
    assert str(translated) == "write to the archive: Exception: FOREIGN KEY constraint failed"
    assert (
        type(translate_error(sa_exc.StatementError("bad value", "SELECT", {}, ValueError("naive")), "x"))
        is ArchiveError
    )
    already = ArchiveError("kept")
    assert translate_error(already, "x") is already
