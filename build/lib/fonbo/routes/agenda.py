"""Agenda: personal contacts (CRUD, favourites, import/export), corporate directory, search."""

from __future__ import annotations

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.formats import Parsed, decode_text, parse_csv, parse_vcard, write_csv, write_vcard
from fonbo.repo import agenda
from fonbo.schema import (
    DIAL_NUMBER,
    EMAIL,
    ID,
    TIMESTAMP,
    array,
    boolean,
    enum,
    integer,
    obj,
    string,
)

api = Api()
TAG = "agenda"

CONTACT = obj({"id": ID, "name": string(128), "number": string(32), "email": string(255),
               "company": string(128), "notes": string(1024), "favourite": boolean(),
               "created_at": TIMESTAMP, "updated_at": TIMESTAMP}, closed=False)
_FIELDS = {"name": string(128, min_length=1), "number": DIAL_NUMBER, "email": EMAIL,
           "company": string(128), "notes": string(1024), "favourite": boolean()}
CONTACT_IN = obj(_FIELDS, ("name",))
CONTACT_PATCH = obj(_FIELDS, min_properties=1)
DIRECTORY_ENTRY = obj({"source": enum("personal", "user", "extension", "corporate"), "id": ID,
                       "name": string(128), "number": string(32), "email": string(255),
                       "company": string(128), "extensions": array(string(32))}, closed=False)
PAGE = {"limit": integer(1, 500), "offset": integer(0, 1_000_000)}
ERRORS = array(obj({"line": integer(1), "message": string(500)}))
IMPORT_RESULT = obj({"imported": integer(0), "duplicates": integer(0), "skipped": integer(0),
                     "errors": ERRORS})
_ID = {"id": ID}


def _contact_error(exc: agenda.ContactInvalid) -> None:
    fail(422, str(exc))


@api.op("GET", "/fonbo/contacts", summary="My personal contacts", tag=TAG,
        query={"q": string(100), "favourite": boolean(), **PAGE},
        responses={200: Response("Contacts", obj({"items": array(CONTACT),
                                                  "total": integer(0)}))})
async def list_contacts(ctx: Ctx) -> web.Response:
    items, total = await agenda.list_contacts(
        ctx.store, ctx.user_id, q=ctx.query.get("q", ""), favourite=ctx.query.get("favourite"),
        limit=ctx.query.get("limit", 50), offset=ctx.query.get("offset", 0))
    return json_response({"items": items, "total": total})


@api.op("POST", "/fonbo/contacts", summary="Add a personal contact", tag=TAG, body=CONTACT_IN,
        responses={201: Response("Created", CONTACT)})
async def create_contact(ctx: Ctx) -> web.Response:
    try:
        row = await agenda.create_contact(ctx.store, ctx.user_id, ctx.body)
    except agenda.ContactInvalid as exc:
        _contact_error(exc)
    return json_response(row, status=201)


@api.op("GET", "/fonbo/contacts/{id}", summary="One personal contact", tag=TAG,
        path_params=_ID, responses={200: Response("Contact", CONTACT)})
async def get_contact(ctx: Ctx) -> web.Response:
    row = await agenda.get_contact(ctx.store, ctx.user_id, ctx.path["id"])
    if row is None:
        not_found("contact not found")
    return json_response(row)


@api.op("PATCH", "/fonbo/contacts/{id}", summary="Change a personal contact (also favourite)",
        tag=TAG, path_params=_ID, body=CONTACT_PATCH,
        responses={200: Response("Contact", CONTACT)})
async def update_contact(ctx: Ctx) -> web.Response:
    try:
        row = await agenda.update_contact(ctx.store, ctx.user_id, ctx.path["id"], ctx.body)
    except agenda.ContactInvalid as exc:
        _contact_error(exc)
    if row is None:
        not_found("contact not found")
    return json_response(row)


@api.op("DELETE", "/fonbo/contacts/{id}", summary="Delete a personal contact", tag=TAG,
        path_params=_ID, responses={204: Response("Deleted", media="")})
async def delete_contact(ctx: Ctx) -> web.Response:
    if not await agenda.delete_contact(ctx.store, ctx.user_id, ctx.path["id"]):
        not_found("contact not found")
    return web.Response(status=204)


@api.op("GET", "/fonbo/favourites", summary="My favourite contacts", tag=TAG,
        responses={200: Response("Favourites", obj({"items": array(CONTACT)}))})
async def list_favourites(ctx: Ctx) -> web.Response:
    items, _ = await agenda.list_contacts(ctx.store, ctx.user_id, favourite=True, limit=500)
    return json_response({"items": items})


@api.op("GET", "/fonbo/directory", summary="Corporate directory (read-only)", tag=TAG,
        query={"q": string(100), **PAGE},
        responses={200: Response("Entries", obj({"items": array(DIRECTORY_ENTRY),
                                                 "total": integer(0)}))})
async def list_directory(ctx: Ctx) -> web.Response:
    items, total = await agenda.directory(ctx.store, q=ctx.query.get("q", ""),
                                          limit=ctx.query.get("limit", 50),
                                          offset=ctx.query.get("offset", 0))
    return json_response({"items": items, "total": total})


@api.op("GET", "/fonbo/agenda/search", summary="Search my contacts and the directory", tag=TAG,
        query={"q": string(100, min_length=1, **{"x-required": True}),
               "limit": integer(1, 100)},
        responses={200: Response("Matches", obj({"items": array(DIRECTORY_ENTRY)}))})
async def search_agenda(ctx: Ctx) -> web.Response:
    q = ctx.query.get("q", "")
    if not q.strip():
        fail(400, "q: must not be empty")
    items = await agenda.search(ctx.store, ctx.user_id, q, ctx.query.get("limit", 20))
    return json_response({"items": items})


@api.op("GET", "/fonbo/contacts/export", summary="Export my contacts as CSV or vCard",
        tag=TAG, query={"format": enum("csv", "vcard")},
        responses={200: Response("File", {"type": "string"}, media="text/csv")})
async def export_contacts(ctx: Ctx) -> web.Response:
    contacts = await agenda.all_contacts(ctx.store, ctx.user_id)
    if ctx.query.get("format", "csv") == "vcard":
        return web.Response(text=write_vcard(contacts), content_type="text/vcard",
                            charset="utf-8", headers={
                                "Content-Disposition": 'attachment; filename="contacts.vcf"'})
    return web.Response(text=write_csv(contacts), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'})


_VCARD_TYPES = ("text/vcard", "text/x-vcard", "text/directory")


@api.op("POST", "/fonbo/contacts/import",
        summary="Import contacts from CSV or vCard (all or nothing unless partial=true)",
        tag=TAG, query={"format": enum("csv", "vcard"), "partial": boolean()},
        raw_body={"text/csv": {"type": "string"}, "text/vcard": {"type": "string"}},
        responses={200: Response("Imported", IMPORT_RESULT),
                   422: Response("Bad lines; nothing imported unless partial=true")},
        description="CSV needs a header line naming its columns (name, number, email, "
                    "company, notes, favourite). Bad lines are reported with their line "
                    "numbers; without partial=true nothing is imported when any line is bad.")
async def import_contacts(ctx: Ctx) -> web.Response:
    raw = await ctx.request.read()
    if not raw.strip():
        fail(400, "empty body: send the CSV or vCard file as the request body")
    fmt = ctx.query.get("format")
    if fmt is None:
        fmt = "vcard" if ctx.request.content_type in _VCARD_TYPES else "csv"
    text = decode_text(raw)
    if fmt == "csv" and text.lstrip().upper().startswith("BEGIN:VCARD"):
        fmt = "vcard"
    max_rows = ctx.settings.import_max_rows
    parsed: Parsed = parse_vcard(text, max_rows) if fmt == "vcard" else parse_csv(text, max_rows)
    errors = [e.as_dict() for e in parsed.errors]
    partial = bool(ctx.query.get("partial", False))
    if errors and not partial:
        fail(422, f"{len(errors)} line(s) have errors; nothing was imported", errors=errors)
    contacts = [c for _, c in parsed.contacts]
    async with ctx.store.transaction() as tx:
        imported, duplicates = await agenda.import_contacts(tx, ctx.user_id, contacts)
    return json_response({"imported": imported, "duplicates": duplicates,
                          "skipped": len(errors), "errors": errors})
