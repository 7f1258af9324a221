"""The seed-format readers: libconfig (.jcfg), key = value (sercen.conf), INI (MDflow.conf)."""

from __future__ import annotations

from pathlib import Path

import pytest

from webfon.config import ConfigError
from webfon.config.ini import parse_ini, read_ini
from webfon.config.keyvalue import parse_keyvalue
from webfon.config.libconfig import parse_libconfig

SEED_JCFG = """\
# /etc/janus/vivait.plugin.webfon.jcfg
general: {
    local_nodo_id = 4            # ID NODO EN BDTR
    colas_limpiar_siempre = false
    local_ip = "172.25.0.22"
    max_digi_llam_sal = 10
}
"""

SEED_SERCEN = """\
smtps_usa = false
smtp_host = "correob1.mdnova.local"
smtp_puerto = 0
smtp_usuario = ""
smtp_clave = \u201c\u201d
f1factor_00_ip = "172.25.0.0"
f1factor_00_msk = "255.255.0.0"
f1factor_01_ip = "10.255.176.0"
f1factor_01_msk = "255.255.252.0"
"""

SEED_MDFLOW = """\
[general]
tick_ms=100
estad_interv_seg=10

[flujo_2]

flujo=Cen_Inicio_SIP

en_paso=1

tasa_sal_seg=2

dnis_max=2

dnis_umbral_masivo=10

to_desborda_seg=5

[flujo_3]
flujo=Cen_TrunkInternos
en_paso=0
tasa_sal_seg=2
dnis_max=1
dnis_umbral_masivo=8
to_desborda_seg=5
"""


def test_libconfig_reads_the_seed_file_with_lines() -> None:
    entries = parse_libconfig(SEED_JCFG, "webfon.jcfg")
    assert entries["general.local_nodo_id"].value == 4
    assert entries["general.colas_limpiar_siempre"].value is False
    assert entries["general.local_ip"].value == "172.25.0.22"
    assert entries["general.max_digi_llam_sal"].value == 10
    assert entries["general.local_ip"].line == 5


def test_libconfig_flat_file_and_rich_values() -> None:
    entries = parse_libconfig(
        'local_nodo_id = 4;\nips = ["a", "b"];\nhex = 0x1F\nf = 1.5e3\n'
        's = "one" " two"\n/* block\ncomment */ l = (1, {x = 2;});\n// done\n')
    assert entries["local_nodo_id"].value == 4
    assert entries["ips"].value == ["a", "b"]
    assert entries["hex"].value == 31
    assert entries["f"].value == 1500.0
    assert entries["s"].value == "one two"
    assert entries["l"].value == [1, {"x": 2}]
    assert entries["l"].line == 7


@pytest.mark.parametrize("text, line, fragment", [
    ("general: {\n  a = 1\n", 3, "missing '}'"),
    ("a = 1\nb 2\n", 2, "expected '=' or ':'"),
    ("a = 1\na = 2\n", 2, "duplicate"),
    ('a = "unterminated\n', 1, "unexpected character"),
    ("a = ;\n", 1, "expected a value"),
])
def test_libconfig_errors_name_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_libconfig(text, "x.jcfg")
    assert info.value.file == "x.jcfg"
    assert info.value.line == line
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"x.jcfg:{line}")


def test_keyvalue_reads_the_seed_sercen_conf() -> None:
    entries = parse_keyvalue(SEED_SERCEN, "sercen.conf")
    assert entries["smtp_host"].value == "correob1.mdnova.local"
    assert entries["smtp_puerto"].value == "0"
    assert entries["smtp_clave"].value == ""
    assert entries["f1factor_01_msk"].value == "255.255.252.0"
    assert entries["f1factor_01_msk"].line == 9


def test_keyvalue_comments_quotes_and_errors() -> None:
    entries = parse_keyvalue('a = "x # not a comment" # comment\nb = plain ; c\n; whole\n')
    assert entries["a"].value == "x # not a comment"
    assert entries["b"].value == "plain"
    with pytest.raises(ConfigError, match=r"sercen.conf:2: .*expected 'key = value'"):
        parse_keyvalue("a = 1\nnonsense\n", "sercen.conf")
    with pytest.raises(ConfigError, match="unterminated"):
        parse_keyvalue('a = "open\n', "sercen.conf")
    with pytest.raises(ConfigError, match="duplicate key"):
        parse_keyvalue("a = 1\na = 2\n", "sercen.conf")


def test_ini_reads_the_seed_mdflow_conf(tmp_path: Path) -> None:
    path = tmp_path / "MDflow.conf"
    path.write_text(SEED_MDFLOW)
    sections = read_ini(path)
    assert list(sections) == ["general", "flujo_2", "flujo_3"]
    assert sections["flujo_2"]["flujo"].value == "Cen_Inicio_SIP"
    assert sections["flujo_3"]["en_paso"].value == "0"
    assert sections["flujo_2"]["to_desborda_seg"].line == 17


def test_ini_errors() -> None:
    with pytest.raises(ConfigError, match=r"m.conf:1: malformed section"):
        parse_ini("[broken\n", "m.conf")
    with pytest.raises(ConfigError, match="duplicate section"):
        parse_ini("[a]\nx=1\n[a]\n", "m.conf")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_ini(tmp_path / "missing.conf")
