"""Gateway settings from the seed's jcfg."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from pbx.settings import PbxSettings
from webfon.config import ConfigError


def test_seed_keys_and_ours_load_from_jcfg(tmp_path: Path) -> None:
    path = tmp_path / "vivait.plugin.webfon.jcfg"
    path.write_text('general: {\n  local_nodo_id = 4\n  colas_limpiar_siempre = true\n'
                    '  local_ip = "10.0.0.5"\n  max_digi_llam_sal = 12\n}\n'
                    'media: {\n  rtp_port_range = "20000-20999"\n  nat_1_1 = "203.0.113.7"\n}\n')
    s = GatewaySettings.load(path, environ={})
    assert (s.local_nodo_id, s.colas_limpiar_siempre, s.local_ip, s.max_digi_llam_sal) == (
        4, True, "10.0.0.5", 12)
    assert s.port_range() == (20000, 20999)
    assert s.host_addresses == ["10.0.0.5"]
    assert s.session_timeout == 60 and s.allow_guest is False


def test_bad_port_range_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        GatewaySettings.load(None, environ={}, rtp_port_range="9-3")


@pytest.mark.parametrize("cls", [GatewaySettings, PbxSettings])
def test_strict_rtp_probation_zero_means_the_sdp_address_only(cls: type) -> None:
    assert cls.load(None, environ={}, strict_rtp_probation=0).strict_rtp_probation == 0
    with pytest.raises(ConfigError):
        cls.load(None, environ={}, strict_rtp_probation=-1)


def test_gc_thresholds_from_file_or_environment_three_of_them(tmp_path: Path) -> None:
    path = tmp_path / "vivait.plugin.webfon.jcfg"
    path.write_text('general: {\n  gc_threshold = "2000, 10, 10"\n}\n')
    assert GatewaySettings.load(path, environ={}).gc_threshold == (2000, 10, 10)
    s = GatewaySettings.load(None, environ={"WEBFON_GATEWAY_GC_THRESHOLD": "700,5,20"})
    assert s.gc_threshold == (700, 5, 20)
    assert GatewaySettings.load(None, environ={}).gc_threshold == (700, 10, 10)
    for bad in ("700,10", "0,10,10"):
        with pytest.raises(ConfigError) as err:
            GatewaySettings.load(None, environ={"WEBFON_GATEWAY_GC_THRESHOLD": bad})
        assert err.value.key == "gc_threshold"
