"""Turn the store's constraint failures into messages a person can act on."""

from __future__ import annotations

import re

_RULES: tuple[tuple[str, str], ...] = (
    (r"numbering", "that number is already in use by another user, extension or queue"),
    (r"login_number", "that number is already in use by another user, extension or queue"),
    (r"phones\.extension_id, phones\.position|extension_id.*position|phones_extension_id_position"
     r"|'extension_id'", "that position is already taken on this extension"),
    (r"sip_username", "that SIP username is already in use"),
    (r"users\.username|'username'", "that username is already in use"),
    (r"forwarding_rules", "that forwarding rule already exists"),
    (r"queue_members|PRIMARY", "that entry already exists"),
    (r"\.name\b|'name'", "that name is already in use"),
    (r"\.section\b|'section'", "that section is already in use"),
    (r"FOREIGN KEY|foreign key", "it refers to something that does not exist, or something "
                                 "still refers to it"),
    (r"CHECK|[Cc]heck constraint", "a rule of the data model refuses these values"),
    (r"NOT NULL|cannot be null", "a required value is missing"),
)


def integrity_message(raw: str) -> str:
    for pattern, message in _RULES:
        if re.search(pattern, raw):
            return message
    return "the change conflicts with existing data"
