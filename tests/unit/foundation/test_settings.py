"""Typed settings: defaults, file, environment, and errors that point at file, line and key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import pytest

from webfon.config import ConfigError
from webfon.settings import BaseSettings


@dataclasses.dataclass
class DemoSettings(BaseSettings):
    component: ClassVar[str] = "demo"
    local_nodo_id: int = 1
    colas_limpiar_siempre: bool = False
    local_ip: str = "127.0.0.1"
    ratio: float = 0.5
    stun_servers: list[str] = dataclasses.field(default_factory=list)
    optional_port: int | None = None


def test_defaults_without_file() -> None:
    s = DemoSettings.load(environ={})
    assert s.local_nodo_id == 1 and s.data_dir == Path("var")
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("var/webfon.db")


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "demo.jcfg"
    cfg.write_text('general: {\n local_nodo_id = 4\n colas_limpiar_siempre = true\n'
                   ' stun_servers = ["stun:127.0.0.1:3478"]\n}\n')
    s = DemoSettings.load(cfg, environ={"WEBFON_DEMO_LOCAL_IP": "10.0.0.1",
                                        "WEBFON_DATA_DIR": str(tmp_path),
                                        "WEBFON_DEMO_RATIO": "0.25"})
    assert s.local_nodo_id == 4
    assert s.colas_limpiar_siempre is True
    assert s.stun_servers == ["stun:127.0.0.1:3478"]
    assert s.local_ip == "10.0.0.1"
    assert s.ratio == 0.25
    assert s.data_dir == tmp_path
    s2 = DemoSettings.load(cfg, environ={"WEBFON_DEMO_LOCAL_NODO_ID": "9"}, ratio=0.75)
    assert s2.local_nodo_id == 9 and s2.ratio == 0.75


def test_env_list_and_optional(tmp_path: Path) -> None:
    s = DemoSettings.load(environ={"WEBFON_DEMO_STUN_SERVERS": "a, b",
                                   "WEBFON_DEMO_OPTIONAL_PORT": ""})
    assert s.stun_servers == ["a", "b"] and s.optional_port is None


def test_config_dir_lookup(tmp_path: Path) -> None:
    class WithFile(DemoSettings):
        default_file: ClassVar[str | None] = "demo.jcfg"

    (tmp_path / "demo.jcfg").write_text("local_nodo_id = 7\n")
    assert WithFile.load(environ={"WEBFON_CONFIG_DIR": str(tmp_path)}).local_nodo_id == 7


def test_wrong_type_names_file_line_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.jcfg"
    cfg.write_text('general: {\n  local_nodo_id = "cuatro"\n}\n')
    with pytest.raises(ConfigError) as info:
        DemoSettings.load(cfg, environ={})
    text = str(info.value)
    assert str(cfg) in text and ":2:" in text and "general.local_nodo_id" in text
    assert "expected an integer" in text


def test_bad_boolean_from_environment() -> None:
    with pytest.raises(ConfigError, match=r"\$WEBFON_DEMO_COLAS_LIMPIAR_SIEMPRE.*boolean"):
        DemoSettings.load(environ={"WEBFON_DEMO_COLAS_LIMPIAR_SIEMPRE": "quizá"})


def test_cross_field_validation() -> None:
    with pytest.raises(ConfigError, match="log_format"):
        DemoSettings.load(environ={"WEBFON_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="port out of range"):
        DemoSettings.load(environ={"WEBFON_DEMO_PORT": "70000"})


def test_spanish_booleans() -> None:
    s = DemoSettings.load(environ={"WEBFON_DEMO_COLAS_LIMPIAR_SIEMPRE": "Si"})
    assert s.colas_limpiar_siempre is True
