"""Choosing PostgreSQL in the config, and the one redaction of its URL (no server needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sparkq_adapters import config
from sparkq_adapters.config import ConfigError, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:s3cret@db.example:5432/queue", "postgresql://me:***@db.example:5432/queue"),
        ("postgresql://me@db/queue", "postgresql://me@db/queue"),
        ("postgresql://db/queue", "postgresql://db/queue"),
        ("postgres://me:p%40ss:w@[::1]:5433/q", "postgres://me:***@[::1]:5433/q"),
        ("postgresql://me:a@b@host/db", "postgresql://me:***@host/db"),
        (
            "postgresql://me@host/db?sslmode=require&password=hunter2",
            "postgresql://me@host/db?sslmode=require&password=***",
        ),
        ("postgresql://me@host/db?PASSWORD=hunter2&x=1", "postgresql://me@host/db?PASSWORD=***&x=1"),
        ("postgresql://me:@host/db", "postgresql://me:***@host/db"),
    ],
)
def test_redact_url_hides_the_password_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_url_shows_text_that_is_no_url_as_stars() -> None:
    assert redact_url("postgresql://me:pw@[bad/db") == "***"


def _settings(folder: Path, text: str) -> config.Settings:
    (folder / "sparkq.yml").write_text(text)
    return config.load(cwd=folder)


def test_database_url_in_the_config_selects_postgresql_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(config.DATABASE_URL_ENV, raising=False)
    assert config.defaults(tmp_path).database_url is None
    settings = _settings(tmp_path, "database: {url: 'postgresql://me:pw@db/q', schema: team_a}\n")
    assert settings.database_url == "postgresql://me:pw@db/q"
    assert settings.file.database.schema == "team_a"
    assert settings.database_name == "postgresql://me:***@db/q"
    monkeypatch.setenv(config.DATABASE_URL_ENV, "postgresql://other@db2/q2")
    assert settings.database_url == "postgresql://other@db2/q2"
    assert config.defaults(tmp_path).database_url == "postgresql://other@db2/q2"


def test_without_a_url_the_sqlite_file_stays_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.DATABASE_URL_ENV, raising=False)
    settings = _settings(tmp_path, "database: {path: q.db}\n")
    assert settings.database_url is None
    assert settings.database_name == str(tmp_path.resolve() / "q.db")
    assert settings.file.database.schema == "sparkq"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("database: {url: 'mysql://me@db/q'}\n", "database.url: expected a PostgreSQL URL"),
        ("database: {url: 5432}\n", "database.url: expected text"),
        ("database: {schema: 'Bad-Name'}\n", "database.schema: expected a schema name"),
        ("database: {schema: 'x; drop table tasks'}\n", "database.schema: expected a schema name"),
    ],
)
def test_a_wrong_url_or_schema_is_refused_naming_the_key(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, text)
    assert problem in caught.value.message


def test_a_wrong_url_in_the_config_is_refused_without_showing_its_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, "database: {url: 'mysql://me:hunter2@db/q'}\n")
    assert "hunter2" not in caught.value.message


def test_sqlite_commands_never_import_psycopg(tmp_path: Path) -> None:
    import os
    import subprocess

    code = (
        "import sys\n"
        "from sparkq_entry.cli import main\n"
        "from sparkq_entry.wiring import open_queue\n"
        "q = open_queue('sparkq.db')\n"
        "q.create_session('s'); q.create_stream('st', 's'); q.enqueue('st', 'run-bash', {}); q.claim('st')\n"
        "q.enqueue('st', 'run-bash', {})\n"
        "assert main(['peek', '--stream', 'st']) in (0, None)\n"
        "assert main(['claim', '--stream', 'st']) in (0, None)\n"
        "print(sorted(m for m in sys.modules if m.startswith('psycopg')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != config.DATABASE_URL_ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
