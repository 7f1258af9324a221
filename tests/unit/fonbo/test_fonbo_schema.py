"""The request checker: types, limits, patterns, unknown fields, query conversion."""

from __future__ import annotations

import pytest

from fonbo.schema import (
    PHONE_NUMBER,
    SchemaError,
    boolean,
    integer,
    obj,
    parse_param,
    string,
    validate,
)

CONTACT = obj({"name": string(5, min_length=1), "n": integer(0, 9), "fav": boolean(),
               "number": PHONE_NUMBER}, ("name",))


def test_valid_object_passes() -> None:
    assert validate(CONTACT, {"name": "Ana", "n": 3, "fav": True}) == {"name": "Ana", "n": 3,
                                                                      "fav": True}


@pytest.mark.parametrize(("value", "field", "words"), [
    ({}, "name", "is required"),
    ({"name": ""}, "name", "must not be empty"),
    ({"name": "toolong"}, "name", "at most 5"),
    ({"name": "a", "x": 1}, "x", "not a known field"),
    ({"name": "a", "n": True}, "n", "an integer"),
    ({"name": "a", "n": 10}, "n", "at most 9"),
    ({"name": "a", "fav": 1}, "fav", "true or false"),
    ({"name": "a", "number": "12a"}, "number", "phone number"),
    ({"name": "\ud800"}, "name", "valid Unicode"),
    ({"name": "a\x00"}, "name", "NUL"),
    ({"name": None}, "name", "not be null"),
    ([], "", "an object"),
])
def test_errors_name_the_field(value: object, field: str, words: str) -> None:
    with pytest.raises(SchemaError) as info:
        validate(CONTACT, value)
    fields = {f: m for f, m in info.value.errors}
    assert field in fields and words in fields[field]


def test_numbers_must_be_finite() -> None:
    with pytest.raises(SchemaError):
        validate({"type": "number"}, float("nan"))
    with pytest.raises(SchemaError):
        parse_param({"type": "number"}, "inf", "from")


def test_query_params_are_converted() -> None:
    assert parse_param(boolean(), "true", "x") is True
    assert parse_param(boolean(), "0", "x") is False
    assert parse_param(integer(1, 10), "7", "x") == 7
    for bad in ("x", "99999999999999999999", "1.5"):
        with pytest.raises(SchemaError):
            parse_param(integer(1, 10), bad, "x")
    with pytest.raises(SchemaError):
        parse_param(boolean(), "maybe", "x")
