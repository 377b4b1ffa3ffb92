"""The checked settings of sparkq.yml are cached, and the cache never serves a stale config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparkq_adapters import config


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(config.CACHE_ENV, str(folder))
    return folder


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_second_load_comes_from_the_cache_without_yaml(tmp_path: Path, cache: Path) -> None:
    cfg = write(tmp_path / "sparkq.yml", "server: {port: 9001}\n")
    assert config.load_file(cfg).file.server.port == 9001
    assert len(list(cache.glob("settings-*.pickle"))) == 1
    probe = (
        "import sys\nfrom pathlib import Path\nfrom sparkq_adapters import config\n"
        f"s = config.load_file(Path({str(cfg)!r}))\n"
        "print(s.file.server.port, 'yaml' in sys.modules, 'cattrs' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True)
    assert out.stdout.split() == ["9001", "False", "False"]


@pytest.mark.parametrize(
    "url", ["postgresql://me:s3cret@db.example/queue", "postgresql://me@db.example/queue?password=s3cret"]
)
def test_a_database_password_is_never_copied_into_the_cache(tmp_path: Path, cache: Path, url: str) -> None:
    cfg = write(tmp_path / "sparkq.yml", f"database: {{url: '{url}'}}\n")
    assert config.load_file(cfg).file.database.url == url
    assert config.load_file(cfg).file.database.url == url
    cached = [p.read_bytes() for p in cache.glob("*")] if cache.exists() else []
    assert not any(b"s3cret" in data for data in cached)


def test_a_database_url_without_a_password_is_cached(tmp_path: Path, cache: Path) -> None:
    cfg = write(tmp_path / "sparkq.yml", "database: {url: 'postgresql://me@db.example/queue'}\n")
    config.load_file(cfg)
    assert len(list(cache.glob("settings-*.pickle"))) == 1


def test_an_edited_file_is_read_again(tmp_path: Path, cache: Path) -> None:
    cfg = write(tmp_path / "sparkq.yml", "server: {port: 9001}\n")
    assert config.load_file(cfg).file.server.port == 9001
    write(cfg, "server: {port: 9002}\n")
    assert config.load_file(cfg).file.server.port == 9002
    write(cfg, "server: {port: 9003}\n")
    os.utime(cfg, ns=(0, 0))  # same size, an old mtime: still a different file identity
    assert config.load_file(cfg).file.server.port == 9003


def test_an_invalid_file_is_never_served_from_the_cache(tmp_path: Path, cache: Path) -> None:
    cfg = write(tmp_path / "sparkq.yml", "server: {port: 9001}\n")
    config.load_file(cfg)
    write(cfg, "server: {port: nope}\n")
    with pytest.raises(config.ConfigError, match=r"server\.port"):
        config.load_file(cfg)


def test_a_damaged_or_foreign_cache_file_is_ignored(tmp_path: Path, cache: Path) -> None:
    cfg = write(tmp_path / "sparkq.yml", "server: {port: 9001}\n")
    config.load_file(cfg)
    [cached] = cache.glob("settings-*.pickle")
    cached.write_bytes(b"not a pickle")
    assert config.load_file(cfg).file.server.port == 9001
    os.chmod(cached, 0o666)  # writable by others: not trusted
    assert config._read_cache(config._cache_key(cfg.resolve(), cfg.stat())) is None


def test_an_unwritable_cache_folder_is_no_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = write(tmp_path / "not-a-folder", "")
    monkeypatch.setenv(config.CACHE_ENV, str(blocker / "cache"))
    cfg = write(tmp_path / "sparkq.yml", "server: {port: 9001}\n")
    assert config.load_file(cfg).file.server.port == 9001
    assert config.load_file(cfg).file.server.port == 9001
