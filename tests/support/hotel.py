"""A small hotel in the store for tests: rooms with their extensions, phones and room users,
the hotel's settings (site, CHAR's credentials, wake-up timings) and room status codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webfon.directory import add_phone, create_extension, create_user
from webfon.passwords import hash_password
from webfon.store.base import Executor

SITE = "hotel-sol"
CHAR_USER = "char"
CHAR_PASSWORD = "char-s3cret-pass"
ROOM_PASSWORD = "sip-room-{room}"
STATUS_CODES = (("*81", "CLEAN", "Habitación limpia", 0),
                ("*82", "INSPECTED", "Habitación revisada", 0),
                ("*83", "MINIBAR", "Minibar", 1))


@dataclass
class Hotel:
    rooms: dict[str, int] = field(default_factory=dict)
    """Room number → hotel_rooms id."""
    users: dict[str, int] = field(default_factory=dict)
    """Room number → the room user's id."""
    extensions: dict[str, int] = field(default_factory=dict)


async def build_hotel(tx: Executor, *, rooms: tuple[str, ...] = ("101", "102", "103"),
                      category_allowed: str = "internal,emergency,local,national,mobile",
                      **settings: Any) -> Hotel:
    hotel = Hotel()
    cat = await tx.insert("INSERT INTO categories (name, allowed) VALUES (?, ?)",
                          ("Huéspedes", category_allowed))
    for room in rooms:
        uid = await create_user(tx, display_name=f"Habitación {room}", login_number=f"9{room}",
                                password="not-used", category_id=cat)
        eid = await create_extension(tx, number=room, kind="hard", owner_user_id=uid,
                                     category_id=cat, line_count=2)
        await add_phone(tx, extension_id=eid, position=0, sip_username=room,
                        sip_password=ROOM_PASSWORD.format(room=room))
        hotel.rooms[room] = await tx.insert(
            "INSERT INTO hotel_rooms (room, extension_id, vacant_name) VALUES (?, ?, ?)",
            (room, eid, f"Habitación {room}"))
        hotel.users[room] = uid
        hotel.extensions[room] = eid
    row = {"id": 1, "site": SITE, "char_user": CHAR_USER,
           "char_password_hash": hash_password(CHAR_PASSWORD), "timezone": "Europe/Madrid",
           "wakeup_ring_s": 3, "wakeup_retries": 1, "wakeup_retry_s": 2, "wakeup_repeat": 1}
    row.update(settings)
    await tx.execute(f"INSERT INTO hotel_settings ({', '.join(row)}) VALUES "
                     f"({', '.join('?' * len(row))})", list(row.values()))
    for dial, code, label, value in STATUS_CODES:
        await tx.execute("INSERT INTO hotel_status_codes (dial, code, label, takes_value) "
                         "VALUES (?, ?, ?, ?)", (dial, code, label, value))
    return hotel


def char_request(action: str, data: Any, *, address: str = "", site: str = SITE,
                 user: str = CHAR_USER, password: str = CHAR_PASSWORD) -> str:
    """A request in CHAR's format, as hmobile connect sends it."""
    import json

    body = data if isinstance(data, str) else json.dumps(data)
    return (f"[credentials]\nuser={user}\npassword={password}\n[action]\nsite={site}\n"
            f"address={address}\naction={action}\ndata={body}\n")
