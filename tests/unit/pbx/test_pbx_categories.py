"""Destination classes under the Spanish numbering plan and category checks."""

import pytest

from pbx.categories import (
    Category,
    NumberError,
    classify_dialled,
    classify_external,
    parse_allowed,
)


@pytest.mark.parametrize(("number", "cls"), [
    ("112", "emergency"), ("091", "emergency"), ("611223344", "mobile"),
    ("711223344", "mobile"), ("915551234", "local"), ("934556677", "national"),
    ("0044207123456", "international"), ("+442071234567", "international"),
    ("+34611223344", "mobile"), ("0034915551234", "local"), ("806123456", "premium"),
    ("905123456", "premium"), ("11822", "premium"), ("900123456", "special"),
    ("902123456", "special"),
])
def test_spanish_classes(number: str, cls: str) -> None:
    assert classify_external(number, ("91",)).dest_class == cls


@pytest.mark.parametrize("number", ["12345", "711", "5551234", "700123456", "00", "+1"])
def test_invalid_external_numbers(number: str) -> None:
    with pytest.raises(NumberError):
        classify_external(number, ("91",))


def test_outside_prefix_is_required_and_stripped() -> None:
    got = classify_dialled("0611223344", is_internal=False, outside_prefix="0")
    assert (got.dest_class, got.number) == ("mobile", "611223344")
    with pytest.raises(NumberError, match="prefix"):
        classify_dialled("611223344", is_internal=False, outside_prefix="0")
    assert classify_dialled("2001", is_internal=True).dest_class == "internal"
    assert classify_dialled("112", is_internal=False).dest_class == "emergency"
    with pytest.raises(NumberError):
        classify_dialled("20a1", is_internal=False)


def test_category_check_reason() -> None:
    cat = Category(1, "Nacional", parse_allowed("internal,national,bogus"))
    assert cat.allowed == {"internal", "national"}
    assert cat.check(classify_external("934556677")) is None
    why = cat.check(classify_external("0044207123456"))
    assert why == "Category Nacional does not allow international calls"
