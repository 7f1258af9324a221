"""The PBX's settings of the hotel PMS interface: HTTPS both ways, networks that parse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pbx.settings import PbxSettings
from webfon.config import ConfigError


def _load(tmp_path: Path, **pms: Any) -> PbxSettings:
    return PbxSettings.load(environ={}, data_dir=tmp_path, pms_enabled=True, **pms)


def test_the_interface_needs_https_both_ways(tmp_path: Path) -> None:
    tls = {"pms_tls_cert_file": tmp_path / "c.pem", "pms_tls_key_file": tmp_path / "k.pem"}
    with pytest.raises(ConfigError, match="HTTPS only"):
        _load(tmp_path)
    with pytest.raises(ConfigError, match="HTTPS only"):
        _load(tmp_path, pms_url="http://hmobile.example/api", **tls)
    with pytest.raises(ConfigError, match="not a network"):
        _load(tmp_path, pms_allowed_networks=["10.0.0.0/8", "nowhere"], **tls)
    with pytest.raises(ConfigError, match="both"):
        _load(tmp_path, pms_cert_file=tmp_path / "mine.pem", **tls)
    with pytest.raises(ConfigError, match="pms_retry_min_s"):
        _load(tmp_path, pms_retry_min_s=10, pms_retry_max_s=5, **tls)
    ok = PbxSettings.load(environ={"WEBFON_PBX_PMS_ENABLED": "true",
                                   "WEBFON_PBX_PMS_ALLOWED_NETWORKS": "10.0.0.0/8, 192.168.1.7",
                                   "WEBFON_PBX_PMS_URL": "https://hmobile.example/api"},
                          data_dir=tmp_path, **tls)
    assert ok.pms_enabled and ok.pms_allowed_networks == ["10.0.0.0/8", "192.168.1.7"]
    assert not PbxSettings.load(environ={}, data_dir=tmp_path).pms_enabled
