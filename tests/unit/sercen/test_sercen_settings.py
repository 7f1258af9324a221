"""sercen.conf read as the seed writes it: SMTP keys, f1factor pairs, validation errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from sercen.settings import SercenSettings
from webfon.config import ConfigError

SEED = '''smtpps_usa = false
smtp_host = "correob1.mdnova.local"
smtp_puerto = 0
smtp_usuario = ""
smtp_clave = ""
f1factor_00_ip = "172.25.0.0"
f1factor_00_msk = "255.255.0.0"
f1factor_01_ip = "10.255.176.0"
f1factor_01_msk = "255.255.252.0"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sercen.conf"
    path.write_text(text)
    return path


def test_seed_file_as_written(tmp_path: Path) -> None:
    s = SercenSettings.load(write(tmp_path, SEED), environ={})
    assert s.smtps_usa is False
    assert s.smtp_host == "correob1.mdnova.local"
    assert s.smtp_puerto == 0 and s.effective_smtp_port == 25
    assert s.smtp_usuario == "" and s.smtp_clave == ""
    assert s.trusted_networks == ["172.25.0.0/16", "10.255.176.0/22"]
    nets = s.trusted_network_list
    assert ipaddress.ip_address("172.25.1.9") in nets[0]
    assert ipaddress.ip_address("10.255.179.250") in nets[1]
    assert ipaddress.ip_address("10.255.180.1") not in nets[1]


def test_spec_spelling_and_smtps_port(tmp_path: Path) -> None:
    s = SercenSettings.load(write(tmp_path, 'smtps_usa = true\nsmtp_host = "m"\n'), environ={})
    assert s.smtps_usa is True
    assert s.effective_smtp_port == 465
    s = SercenSettings.load(write(tmp_path, "smtps_usa = true\nsmtp_puerto = 2465\n"),
                            environ={})
    assert s.effective_smtp_port == 2465


def test_defaults() -> None:
    s = SercenSettings.load(environ={})
    assert (s.max_retries, s.find_time, s.ban_time) == (3, 120.0, 300.0)
    assert s.email_code_ttl == 300.0
    assert s.trusted_networks == []
    assert s.port == 8300
    assert s.token_audiences == ["gateway", "fonbo", "sercen"]
    assert s.secrets_key_path == s.data_dir / "keys" / "sercen_secrets.key"


def test_many_pairs_and_prefix_masks(tmp_path: Path) -> None:
    lines = [f'f1factor_{i:02d}_ip = "192.168.{i}.0"\nf1factor_{i:02d}_msk = "24"\n'
             for i in range(12)]
    s = SercenSettings.load(write(tmp_path, "".join(lines)), environ={})
    assert len(s.trusted_networks) == 12
    assert s.trusted_networks[11] == "192.168.11.0/24"


@pytest.mark.parametrize(("text", "line", "key"), [
    ('f1factor_00_ip = "172.25.0.300"\nf1factor_00_msk = "255.255.0.0"\n', 1, "f1factor_00_ip"),
    ('f1factor_00_ip = "172.25.0.0"\nf1factor_00_msk = "255.0.255.0"\n', 2, "f1factor_00_msk"),
    ('smtp_host = "x"\nf1factor_00_ip = "172.25.0.0"\nf1factor_00_msk = "mask"\n', 3,
     "f1factor_00_msk"),
    ('f1factor_03_ip = "172.25.0.0"\n', 1, "f1factor_03_ip"),
    ('smtp_host = "x"\nf1factor_04_msk = "255.255.0.0"\n', 2, "f1factor_04_msk"),
    ('smtp_puerto = "abc"\n', 1, "smtp_puerto"),
    ("smtps_usa = maybe\n", 1, "smtps_usa"),
])
def test_bad_values_name_file_line_key(tmp_path: Path, text: str, line: int, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        SercenSettings.load(path, environ={})
    assert err.value.file == str(path)
    assert err.value.line == line
    assert err.value.key == key
    assert str(path) in str(err.value) and key in str(err.value)


def test_environment_overrides(tmp_path: Path) -> None:
    env = {"WEBFON_SERCEN_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
           "WEBFON_SERCEN_MAX_RETRIES": "5", "WEBFON_SERCEN_SMTP_HOST": "mail.example"}
    s = SercenSettings.load(write(tmp_path, SEED), environ=env)
    assert s.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]
    assert s.max_retries == 5
    assert s.smtp_host == "mail.example"
    assert len(s.trusted_networks) == 2


@pytest.mark.parametrize(("field", "value"), [
    ("trusted_proxies", ["not-an-ip"]), ("trusted_networks", ["10.0.0.0/40"]),
    ("max_retries", 0), ("ban_time", 0.0), ("smtp_starttls", "maybe"), ("smtp_puerto", 70000),
    ("response_delay", -1.0), ("token_audiences", []),
])
def test_validation(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as err:
        SercenSettings.load(environ={}, **{field: value})
    assert err.value.key == field
