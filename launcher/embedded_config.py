"""Seed-format configuration files for the embedded stack, written once under ``<data>/etc``.

``webfon up`` points ``WEBFON_CONFIG_DIR`` here, so the components read the same files, in the
same formats and with the same keys, as a production node does under ``/etc``: the gateway's
``vivait.plugin.webfon.jcfg``, sercen's ``sercen.conf`` and the PBX's ``MDflow.conf``. Files
that exist are left alone: they are the admin's to edit.
"""

from __future__ import annotations

from pathlib import Path

GATEWAY_JCFG = """\
# vivait.plugin.webfon.jcfg (embedded demo node)
general: {
    local_nodo_id = 4               # ID NODO EN BDTR («vivait-webfon», Sede Madrid)
    colas_limpiar_siempre = true    # pool de conexiones: limpiar colas al arrancar
    local_ip = "127.0.0.1"          # IP privada de la red de voz
    max_digi_llam_sal = 15          # máximo de dígitos en llamadas salientes
    reclaim_session_timeout = 20    # s que una sesión espera a reconectar su WebSocket
    media_reclaim_timeout = 20      # s que una llamada espera nuevo medio WebRTC (cambio de red)
    sip_rtp_timeout = 60            # s sin RTP del lado SIP: se cuelga (0 = nunca)
    sip_rtp_hold_timeout = 0        # lo mismo en espera, si el remoto envía (música); 0 = nunca
}
"""

SERCEN_CONF = """\
# sercen.conf (embedded). No mail server: the login codes of the second factor are shown on
# the console of `webfon up`. No trusted network either: not even this machine, because a
# proxy added in front (say, for HTTPS) would make every client look local. Add your
# office networks as f1factor_NN_ip / f1factor_NN_msk pairs, e.g.
#   f1factor_00_ip = "172.25.0.0"
#   f1factor_00_msk = "255.255.0.0"
# and, when nginx talks to sercen over TCP, the address it connects from:
#   trusted_proxies = "unix,127.0.0.1"
smtps_usa = false
smtp_host = ""
smtp_puerto = 0
smtp_usuario = ""
smtp_clave = ""
"""

MDFLOW_CONF = """\
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


def write_embedded_config(config_dir: Path) -> list[Path]:
    """Write the files that are missing; return the ones written."""
    config_dir.mkdir(parents=True, exist_ok=True)
    mdflow = config_dir / "MDflow.conf"
    files = {
        "vivait.plugin.webfon.jcfg": GATEWAY_JCFG,
        "sercen.conf": SERCEN_CONF,
        "MDflow.conf": MDFLOW_CONF,
        "pbx.jcfg": f'# pbx.jcfg (embedded)\nmdflow_conf = "{mdflow}"\n',
    }
    written = []
    for name, text in files.items():
        path = config_dir / name
        if not path.exists():
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
