from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.settings import ADAPTED_MODEL, Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("ASSISTANT_MODEL", "ASSISTANT_INDEX_DIR", "ASSISTANT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    s = Settings.load()
    assert s.model == ADAPTED_MODEL and s.index_dir == Path("index") and s.max_chunk_chars == 500


def test_priority_file_then_env_then_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assistant.toml").write_text('[assistant]\nmodel = "from-file"\nmax_chunk_chars = 300\n')
    monkeypatch.delenv("ASSISTANT_MODEL", raising=False)
    assert Settings.load().model == "from-file"
    monkeypatch.setenv("ASSISTANT_MODEL", "from-env")
    s = Settings.load()
    assert s.model == "from-env" and s.max_chunk_chars == 300
    assert Settings.load(model="from-flag").model == "from-flag"


def test_bad_config_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assistant.toml").write_text("model = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load()
    (tmp_path / "assistant.toml").write_text('colour = "red"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.load()
    monkeypatch.setenv("ASSISTANT_MAX_CHUNK_CHARS", "many")
    (tmp_path / "assistant.toml").unlink()
    with pytest.raises(ConfigError, match="max_chunk_chars"):
        Settings.load()
