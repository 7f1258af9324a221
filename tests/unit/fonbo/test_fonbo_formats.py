"""CSV and vCard contacts: parsing with line numbers, normalisation, writing, round trips."""

from __future__ import annotations

from fonbo.formats import decode_text, parse_csv, parse_vcard, write_csv, write_vcard


def test_csv_reads_header_columns_in_any_order_and_normalises_numbers() -> None:
    text = ("number,name,favourite,email\n+34 600-11.22 (33),Carmen López,yes,\n"
            ",Solo Mail,0,a@b.es\n")
    parsed = parse_csv(text, 100)
    assert parsed.errors == []
    assert [c for _, c in parsed.contacts] == [
        {"name": "Carmen López", "number": "+34600112233", "email": "", "company": "",
         "notes": "", "favourite": True},
        {"name": "Solo Mail", "number": "", "email": "a@b.es", "company": "", "notes": "",
         "favourite": False}]
    assert [line for line, _ in parsed.contacts] == [2, 3]


def test_csv_reports_each_bad_line_with_its_number() -> None:
    text = ("nombre;numero;correo\n"
            "Ana;600111222;\n"
            ";600111333;\n"            # line 3: no name
            "Luis;12ab;\n"             # line 4: bad number
            "Sin datos;;\n"            # line 5: neither number nor email
            "Eva;600;eva@x.es;extra\n"  # line 6: too many fields
            "Bea;611;bea@x.es\n")
    parsed = parse_csv(text, 100)
    assert [e.line for e in parsed.errors] == [3, 4, 5, 6]
    assert "name" in parsed.errors[0].message
    assert "number" in parsed.errors[1].message
    assert "number or an email" in parsed.errors[2].message
    assert [c["name"] for _, c in parsed.contacts] == ["Ana", "Bea"]


def test_csv_line_numbers_count_quoted_newlines() -> None:
    text = 'name,number,notes\n"Ana",600,"two\nlines"\nBad,xx,\n'
    parsed = parse_csv(text, 100)
    assert [e.line for e in parsed.errors] == [4]
    assert parsed.contacts[0][1]["notes"] == "two\nlines"


def test_csv_without_name_header_or_with_unknown_columns_is_refused() -> None:
    assert parse_csv("600111222,Ana\n", 10).errors[0].line == 1
    errors = parse_csv("name,number,shoe size\nAna,600,42\n", 10).errors
    assert "shoe size" in errors[0].message
    assert parse_csv("", 10).errors[0].message.startswith("the file is empty")


def test_csv_row_limit() -> None:
    text = "name,number\n" + "".join(f"N{i},{600000000 + i}\n" for i in range(5))
    parsed = parse_csv(text, 3)
    assert len(parsed.contacts) == 3
    assert parsed.errors[0].line == 5 and "at most 3" in parsed.errors[0].message


def test_csv_writer_guards_formulas_and_round_trips() -> None:
    contacts = [{"name": "=HYPERLINK(\"x\")", "number": "+34600", "email": "", "company": "@corp",
                 "notes": "a,b \"q\"", "favourite": True}]
    text = write_csv(contacts)
    assert "'=HYPERLINK" in text and "'@corp" in text and ",+34600," in text
    back = parse_csv(text, 10)
    assert back.errors == []
    assert back.contacts[0][1] == contacts[0]


def test_vcard_parses_folded_escaped_cards_and_reports_bad_ones() -> None:
    text = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Pérez\\, Juan\r\nTEL;TYPE=CELL:+34 600 \r\n"
            " 111 222\r\nEMAIL:juan@x.es\r\nORG:ACME;Ventas\r\nNOTE:línea1\\nlínea2\r\n"
            "CATEGORIES:Favoritos\r\nEND:VCARD\r\n"
            "BEGIN:VCARD\r\nN:Ruiz;Marta;;;\r\nitem1.TEL:611222333\r\nEND:VCARD\r\n"
            "BEGIN:VCARD\r\nTEL:612\r\nEND:VCARD\r\n"           # line 15: no name
            "BEGIN:VCARD\r\nFN:Malo\r\nTEL:abc\r\nEND:VCARD\r\n"  # line 18: bad number
            "FN:suelto\r\n"                                     # line 22: outside a card
            "BEGIN:VCARD\r\nFN:Abierta\r\n")                    # line 23: not closed
    parsed = parse_vcard(text, 100)
    assert [(e.line, e.message.split(":")[0]) for e in parsed.errors] == [
        (15, "card has no name (FN or N)"), (18, "number"), (22, "FN outside a BEGIN"),
        (23, "card not closed with END")]
    first, second = (c for _, c in parsed.contacts)
    assert first == {"name": "Pérez, Juan", "number": "+34600111222", "email": "juan@x.es",
                     "company": "ACME", "notes": "línea1\nlínea2", "favourite": True}
    assert second["name"] == "Marta Ruiz" and second["number"] == "611222333"


def test_vcard_round_trip_with_long_unicode_lines() -> None:
    contacts = [{"name": "Ñandú " * 20, "number": "600111222", "email": "n@x.es",
                 "company": "Café; S.L.", "notes": "uno\ndos, tres", "favourite": True},
                {"name": "Sin favorito", "number": "", "email": "s@x.es", "company": "",
                 "notes": "", "favourite": False}]
    text = write_vcard(contacts)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    parsed = parse_vcard(text, 10)
    assert parsed.errors == []
    got = [c for _, c in parsed.contacts]
    assert got[0] == {**contacts[0], "name": contacts[0]["name"].strip()}
    assert got[1] == contacts[1]


def test_vcard_quoted_printable_and_garbage() -> None:
    text = ("BEGIN:VCARD\nVERSION:2.1\nFN;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Jos=C3=A9\n"
            "TEL:600\nEND:VCARD\n")
    assert parse_vcard(text, 10).contacts[0][1]["name"] == "José"
    assert parse_vcard("hello world\n", 10).errors[0].line == 1
    assert parse_vcard("", 10).errors[0].message.startswith("no vCard")


def test_decode_text_accepts_bom_and_windows_1252() -> None:
    assert decode_text("\ufeffname\n".encode()) == "name\n"
    assert decode_text("Peña".encode("cp1252")) == "Peña"
