"""``webfon demo-data``: a small living organisation so a newcomer sees the system working.

Sede Madrid with a WebRTC node (id 4) and a registration node, three users with hard
extensions and desk phones, a webphone pool 7000-7009, a hunt group, an ACD queue and an
operator group with a supervisor and pause reasons, an IVR menu (4000) in front of them, a day
of group statistics and IVR accumulators, two trunks with failover order, mdflow flows, a
conference room (8000, PIN 1234), contacts, a few hundred CDRs (the answered ones with their
call quality, a few of them bad) and two voicemails.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

from webfon.directory import (
    add_phone,
    create_extension,
    create_queue,
    create_user,
    reserve_number,
)
from webfon.passwords import hash_password
from webfon.private_files import write_private
from webfon.rtp.quality import CallQuality, LegQuality, summarize
from webfon.rtp.wav import encode_wav
from webfon.store.base import Executor, Store


@dataclass(frozen=True)
class DemoLogin:
    login: str
    password: str
    name: str
    role: str
    sip_username: str
    sip_password: str


DEMO_USERS = (
    # login, name, role, hard extension, email
    ("1001", "Ana García", "admin", "2001", "ana.garcia@example.com"),
    ("1002", "Luis Pérez", "user", "2002", "luis.perez@example.com"),
    ("1003", "Marta Ruiz", "user", "2003", "marta.ruiz@example.com"),
)
DEMO_PASSWORD = "webfon-{login}"
DEMO_SIP_PASSWORD = "sip-{ext}"
DEMO_PIN = "4{login}"


def _tone_wav(path: Path, freq: float, seconds: float, rate: int = 8000) -> float:
    """A voicemail recording as the PBX writes one: mode 0600 in a 0700 folder."""
    n = int(rate * seconds)
    samples = [int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)]
    write_private(path, encode_wav(samples, rate))
    return seconds


async def _organisation(tx: Executor) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["site"] = await tx.insert("INSERT INTO sites (name, address) VALUES (?, ?)",
                                  ("Sede Madrid", "c/Manuel Tovar, 38"))
    for node_id, name, desc, kind in ((1, "vivait-registro", "NODO-REGISTRO", "registro"),
                                      (2, "vivait-acd", "NODO-ACD", "acd"),
                                      (4, "vivait-webfon", "NODO-WEBFON", "webrtc")):
        await tx.execute("INSERT INTO nodes (id, name, description, type, address, site_id) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (node_id, name, desc, kind, "127.0.0.1", ids["site"]))
    ids["dept"] = await tx.insert("INSERT INTO departments (name, site_id) VALUES (?, ?)",
                                  ("Atención al cliente", ids["site"]))
    for key, name, allowed in (
            ("cat_internal", "Interna", "internal,emergency"),
            ("cat_national", "Nacional", "internal,emergency,local,national,mobile,special"),
            ("cat_international", "Internacional",
             "internal,emergency,local,national,mobile,special,international")):
        ids[key] = await tx.insert("INSERT INTO categories (name, allowed) VALUES (?, ?)",
                                   (name, allowed))
    ids["mobility"] = await tx.insert("INSERT INTO mobility_groups (name) VALUES (?)",
                                      ("Movilidad Madrid",))
    ids["pool"] = await tx.insert(
        "INSERT INTO webphone_pools (name, base_extension, ranges) VALUES (?, ?, ?)",
        ("Pool Webphone Madrid", "7000", "7000-7009"))
    ids["template"] = await tx.insert(
        "INSERT INTO extension_templates (name, description) VALUES (?, ?)",
        ("estandar", "Plantilla estándar"))
    return ids


async def load_demo(store: Store, data_dir: Path, seed: int = 7) -> list[DemoLogin]:
    """Fill an empty store with the demo; returns the logins to show to the newcomer."""
    rng = random.Random(seed)
    logins: list[DemoLogin] = []
    now = time.time()
    async with store.transaction() as tx:
        ids = await _organisation(tx)
        user_ids: dict[str, int] = {}
        ext_ids: dict[str, int] = {}
        for login, name, role, ext, email in DEMO_USERS:
            uid = await create_user(
                tx, display_name=name, login_number=login, username=email.split("@")[0],
                password=DEMO_PASSWORD.format(login=login), pin=DEMO_PIN.format(login=login),
                email=email, role=role, category_id=ids["cat_national"],
                forward_category_id=ids["cat_internal"], mobility_group_id=ids["mobility"],
                department_id=ids["dept"], site_id=ids["site"], webphone_pool_id=ids["pool"],
                webphone_lines=2, external_number=f"91555{login}")
            user_ids[login] = uid
            eid = await create_extension(tx, number=ext, kind="hard", owner_user_id=uid,
                                         node_id=1, template_id=ids["template"],
                                         category_id=ids["cat_national"], mobility_enabled=1,
                                         line_count=2)
            ext_ids[ext] = eid
            sip_password = DEMO_SIP_PASSWORD.format(ext=ext)
            await add_phone(tx, extension_id=eid, position=0, sip_username=ext,
                            sip_password=sip_password, model="Cisco 7841", ring_order=1)
            logins.append(DemoLogin(login, DEMO_PASSWORD.format(login=login), name, role, ext,
                                    sip_password))
        for n in range(7000, 7010):
            await create_extension(tx, number=str(n), kind="web", pool_id=ids["pool"], node_id=4,
                                   category_id=ids["cat_national"])
        hunt = await create_queue(tx, number="3000", name="Grupo salto Soporte", kind="hunt",
                                  strategy="linear", ring_timeout_s=15, timeout_s=45,
                                  overflow_target="2001")
        acd = await create_queue(tx, number="3100", name="ACD Atención", kind="acd",
                                 strategy="leastrecent", timeout_s=120, overflow_target="3000",
                                 stats_enabled=1)
        operators = await create_queue(tx, number="3200", name="Operadoras Recepción",
                                       kind="operator", strategy="ringall", timeout_s=90,
                                       overflow_target="1001", announce_s=30)
        for queue_id, members in ((hunt, (("2002", 0), ("2003", 0))),
                                  (acd, (("2001", 1), ("2002", 0), ("2003", 2))),
                                  (operators, (("2001", 0),))):
            for ext, penalty in members:
                await tx.execute("INSERT INTO queue_members (queue_id, extension_id, penalty) "
                                 "VALUES (?, ?, ?)", (queue_id, ext_ids[ext], penalty))
        await _callcentre(tx, rng, now, user_ids, {"hunt": hunt, "acd": acd,
                                                   "operators": operators})
        for prio, (name, port) in enumerate((("Trunk_vivait_gw01", 5080),
                                             ("Trunk_vivait_gw02", 5082)), start=1):
            await tx.execute("INSERT INTO trunks (name, host, port, priority) VALUES (?, ?, ?, ?)",
                             (name, "127.0.0.1", port, prio))
        for section, flujo, en_paso, tasa, dmax, umbral in (
                ("flujo_2", "Cen_Inicio_SIP", 1, 2, 2, 10),
                ("flujo_3", "Cen_TrunkInternos", 0, 2, 1, 8)):
            await tx.execute(
                "INSERT INTO mdflow_flows (section, flujo, en_paso, tasa_sal_seg, dnis_max, "
                "dnis_umbral_masivo, to_desborda_seg) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (section, flujo, en_paso, tasa, dmax, umbral, 5))
        await tx.execute("INSERT INTO forwarding_rules (user_id, kind, enabled, target_type, "
                         "timeout_s) VALUES (?, 'no_answer', 1, 'voicemail', 20)",
                         (user_ids["1002"],))
        for code, label in (("*43#", "Retrollamada"), ("*44#", "Cancelar retrollamada")):
            await tx.execute("INSERT INTO smart_buttons (user_id, code, label, kind) "
                             "VALUES (NULL, ?, ?, 'feature')", (code, label))
        await tx.execute("INSERT INTO smart_buttons (user_id, code, label, kind) "
                         "VALUES (?, '3100', 'ACD Atención', 'dial')", (user_ids["1002"],))
        await _conference(tx, now)
        await _contacts(tx, user_ids, now)
        await _cdrs(tx, rng, user_ids, now)
        await _voicemail(tx, data_dir, user_ids["1002"], now)
    return logins


async def _callcentre(tx: Executor, rng: random.Random, now: float, user_ids: dict[str, int],
                      queues: dict[str, int]) -> None:
    """ACD settings, a supervisor, pause reasons, the IVR menu «IVRPRU» (4000) and a day of
    statistics for the ACD group and the menu."""
    await tx.execute("UPDATE queues SET wrapup_s = 5, sla_s = 20 WHERE id = ?", (queues["acd"],))
    for queue_id in (queues["acd"], queues["operators"]):
        await tx.execute("INSERT INTO queue_supervisors (queue_id, user_id) VALUES (?, ?)",
                         (queue_id, user_ids["1003"]))
    for reason in ("Descanso", "Formación", "Gestión administrativa"):
        await tx.execute("INSERT INTO acd_pause_reasons (name) VALUES (?)", (reason,))
    await tx.execute("INSERT INTO numbering (number, kind) VALUES ('4000', 'ivr')")
    menu = await tx.insert("INSERT INTO ivr_menus (number, name, timeout_s, max_tries, "
                           "fallback_action, fallback_target) VALUES "
                           "('4000', 'IVRPRU', 5, 3, 'queue', '3200')")
    for digit, action, target, stats, vv in (("1", "queue", "3100", 1, "atencion"),
                                             ("2", "queue", "3000", 0, ""),
                                             ("0", "queue", "3200", 0, ""),
                                             ("9", "voicemail", "1002", 0, "")):
        await tx.execute("INSERT INTO ivr_options (menu_id, digit, action, target, "
                         "stats_enabled, vv_name, vv_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (menu, digit, action, target, stats, "VVPRU" if vv else "", vv))
    first = int((now - 86400) // 900) * 900
    for period in range(first, int(now // 900) * 900, 900):
        hour = (period % 86400) // 3600
        busy = 1.0 if 8 <= hour < 20 else 0.15
        offered = rng.randint(0, int(12 * busy) + 1)
        abandoned = min(offered, rng.randint(0, 2))
        overflowed = min(offered - abandoned, rng.randint(0, 1))
        answered = offered - abandoned - overflowed
        if offered:
            waits = [rng.uniform(2, 60) for _ in range(offered)]
            await tx.execute(
                "INSERT INTO queue_stats (queue_id, period_start, offered, answered, "
                "abandoned, overflowed, answered_in_sla, wait_total_s, talk_total_s, "
                "max_wait_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (queues["acd"], period, offered, answered, abandoned, overflowed,
                 sum(1 for w in waits[:answered] if w <= 20), sum(waits),
                 answered * rng.uniform(60, 240), max(waits)))
            for option, count in (("1", answered), ("2", rng.randint(0, 3)),
                                  ("TIMEOUT", rng.randint(0, 1))):
                if count:
                    await tx.execute("INSERT INTO ivr_accumulators (period_start, name, "
                                     "option_value, count) VALUES (?, 'IVRPRU', ?, ?)",
                                     (period, option, count))


DEMO_ROOM = ("8000", "Sala general", "1234")
"""A dial-in conference room of the organisation: number, name, PIN."""


async def _conference(tx: Executor, now: float) -> None:
    """The organisation's conference room; every desk extension may hold two rooms of its
    user's («Salas de conferencia Webphone») and beeps («Conferencias BEEP»)."""
    number, name, pin = DEMO_ROOM
    await reserve_number(tx, number, "conference")
    await tx.execute("INSERT INTO conference_rooms (number, name, pin_hash, beep, created_at) "
                     "VALUES (?, ?, ?, 1, ?)", (number, name, hash_password(pin), now))
    await tx.execute("UPDATE extensions SET conference_rooms = 2, beep = 1 WHERE kind = 'hard'")


async def _contacts(tx: Executor, user_ids: dict[str, int], now: float) -> None:
    corporate = (("Recepción Madrid", "2000"), ("Soporte", "3000"), ("Atención", "3100"),
                 ("Seguridad", "2099"), ("Emergencias", "112"))
    personal = (("Carmen López", "600111222"), ("Javier Martín", "917001122"),
                ("Lucía Fernández", "655443322"), ("Taller Coches", "914445566"),
                ("Pedro Sánchez", "677889900"))
    for name, number in corporate:
        await tx.execute("INSERT INTO contacts (owner_user_id, name, number, created_at, "
                         "updated_at) VALUES (NULL, ?, ?, ?, ?)", (name, number, now, now))
    for uid in user_ids.values():
        for i, (name, number) in enumerate(personal):
            await tx.execute("INSERT INTO contacts (owner_user_id, name, number, favourite, "
                             "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                             (uid, name, number, int(i < 2), now, now))


async def _cdrs(tx: Executor, rng: random.Random, user_ids: dict[str, int], now: float) -> None:
    logins = list(user_ids)
    outside = ["600111222", "917001122", "655443322", "934556677", "+442071234567"]
    dispositions = ["answered"] * 6 + ["no_answer", "busy", "cancelled", "voicemail", "failed"]
    rows = []
    for i in range(300):
        started = now - rng.uniform(60, 30 * 86400)
        me = rng.choice(logins)
        internal = rng.random() < 0.4
        peer = rng.choice([u for u in logins if u != me]) if internal else rng.choice(outside)
        direction = "internal" if internal else rng.choice(["inbound", "outbound"])
        caller, callee = (me, peer) if direction != "inbound" else (peer, me)
        disposition = rng.choice(dispositions)
        talk = rng.uniform(5, 600) if disposition == "answered" else 0.0
        ring = rng.uniform(2, 20)
        answered = started + ring if disposition == "answered" else None
        ended = started + ring + talk
        quality = _quality(random.Random(i), internal, talk) if answered else None
        rows.append((f"demo-{i}@webfon", caller, callee, user_ids[me],
                     user_ids.get(peer) if internal else None, direction, started, answered,
                     ended, ended - started, talk, disposition,
                     "Trunk_vivait_gw01" if not internal else "",
                     *((quality.mos, quality.loss_pct, quality.jitter_ms, quality.rtt_ms,
                        quality.details()) if quality else (None, None, None, None, ""))))
    await tx.executemany(
        "INSERT INTO cdr (call_id, caller, callee, user_id, peer_user_id, direction, started_at, "
        "answered_at, ended_at, duration_s, billsec, disposition, trunk, mos, loss_pct, "
        "jitter_ms, rtt_ms, quality) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _quality(rng: random.Random, internal: bool, talk: float) -> CallQuality:
    """Plausible figures for a demo call: a browser through gateway 4 and the PBX to a desk
    phone or a trunk; about one call in ten on a poor network."""
    poor = rng.random() < 0.1
    loss = rng.uniform(1.5, 4) if poor else rng.uniform(0, 0.5)
    packets = int(talk * 50)
    webrtc = LegQuality(node="gateway-4", leg="webrtc",
                        address=f"81.{rng.randrange(256)}.{rng.randrange(256)}.7:50000",
                        network="srflx" if poor else "host", codec="PCMA", srtp=True,
                        rx_packets=int(packets * (1 - loss / 100)), rx_loss_pct=loss,
                        tx_packets=packets, remote_loss_pct=loss / 2,
                        remote_jitter_ms=rng.uniform(20, 60) if poor else rng.uniform(1, 8),
                        rtt_ms=rng.uniform(150, 400) if poor else rng.uniform(10, 40))
    caller = LegQuality(node="registro-1", leg="caller", address="10.1.0.4:30000",
                        network="udp", codec="PCMA", rx_packets=webrtc.rx_packets,
                        rx_loss_pct=loss, rx_jitter_ms=rng.uniform(1, 5), tx_packets=packets,
                        remote_loss_pct=0.0, rtt_ms=rng.uniform(0.3, 1.0))
    callee = LegQuality(node="registro-1", leg="callee",
                        address="10.1.20.31:16384" if internal else "10.1.9.1:10000",
                        network="tls" if internal else "udp", codec="PCMA",
                        srtp=internal, rx_packets=packets, rx_loss_pct=0.0,
                        rx_jitter_ms=rng.uniform(1, 5), tx_packets=webrtc.rx_packets,
                        remote_loss_pct=loss, rtt_ms=rng.uniform(2, 20))
    return summarize([caller, webrtc, callee])


async def _voicemail(tx: Executor, data_dir: Path, user_id: int, now: float) -> None:
    for i, (caller, name, freq) in enumerate((("600111222", "Carmen López", 440.0),
                                              ("1003", "Marta Ruiz", 660.0))):
        path = data_dir / "voicemail" / str(user_id) / f"demo-{i}.wav"
        seconds = _tone_wav(path, freq, 2.0)
        await tx.execute("INSERT INTO voicemail_messages (user_id, caller, caller_name, "
                         "call_id, created_at, duration_s, path) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (user_id, caller, name, f"demo-vm-{i}@webfon", now - 3600 * (i + 1),
                          seconds, str(path)))


async def has_data(store: Store) -> bool:
    return bool(await store.fetchval("SELECT COUNT(*) AS n FROM users"))
