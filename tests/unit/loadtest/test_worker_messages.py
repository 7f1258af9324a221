"""What crosses Locust's (unauthenticated) channel to the workers: never a credential."""

from __future__ import annotations

import json

from loadtest.plan import Plan, call_settings


def test_call_settings_carry_no_token_and_no_sip_password() -> None:
    plan = Plan(sip_user="sip:load{n}@pbx.example", sip_secret="s3cret-{n}",
                sip_proxy="sip:pbx.example")
    settings = call_settings("ws://gw:8188/janus", "sip:echo@pbx.example", plan)
    assert settings["username"] == "sip:load{n}@pbx.example"
    assert "s3cret" not in json.dumps(settings)
    assert not {"secret", "token"} & set(settings)
