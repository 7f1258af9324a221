"""Hands each leg event of a connected call to the feature registered for its type."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from ..calls.leg import CallLeg, LegEvent, Reinvite
from ..calls.model import Call


class Feature(Protocol):
    def handle(self, call: Call, leg: CallLeg, event: Any) -> Awaitable[None] | None: ...


class InCallFeatures:
    def __init__(self) -> None:
        self._features: dict[type, Feature] = {}

    def add(self, event_type: type, feature: Feature) -> None:
        self._features[event_type] = feature

    def handle(self, call: Call, leg: CallLeg, event: LegEvent) -> Awaitable[None] | None:
        feature = self._features.get(type(event))
        if feature is not None:
            return feature.handle(call, leg, event)
        if isinstance(event, Reinvite):  # nobody takes re-INVITEs: refuse the change
            event.tx.respond(488)
        return None
