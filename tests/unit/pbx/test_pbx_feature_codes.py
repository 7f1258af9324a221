"""Feature codes (*43# «Retrollamada», *44# «Cancelar retrollamada») and whom a callback
rings."""

from __future__ import annotations

from pbx.callback import requester_number
from pbx.directory import Extension, User
from pbx.feature_codes import Feature, FeatureCode, parse_feature_code
from pbx.routing import Caller


def test_codes() -> None:
    assert parse_feature_code("*43#") == FeatureCode(Feature.CALLBACK)
    assert parse_feature_code("*43*1002#") == FeatureCode(Feature.CALLBACK, "1002")
    assert parse_feature_code("*44#") == FeatureCode(Feature.CANCEL_CALLBACK)
    for not_a_code in ("*44*1002#", "*43", "43#", "*43*#", "*43*10a2#", "*72*1*1#2", "1002"):
        assert parse_feature_code(not_a_code) is None, not_a_code


def test_a_callback_rings_the_user_else_the_extension() -> None:
    user = User(1, "Ana", "1001", "", "normal", True, None, None, None, None, "exclusivo")
    ext = Extension(5, "2001", "hard", 1, None, False, 2)
    assert requester_number(Caller(user=user, extension=ext)) == "1001"
    assert requester_number(Caller(extension=ext)) == "2001"
    assert requester_number(Caller()) == ""
