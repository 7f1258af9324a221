"""E-model (simplified ITU-T G.107) used to estimate MOS in the sizing tool."""

from __future__ import annotations

import pytest

from webfon.rtp import emodel


def test_perfect_g711_path_is_r_93_2_and_mos_4_41() -> None:
    r = emodel.r_factor(emodel.G711, loss_pct=0.0, one_way_ms=0.0)
    assert r == pytest.approx(93.2)
    assert emodel.mos_from_r(r) == pytest.approx(4.4093, abs=1e-4)


def test_delay_impairment_is_linear_then_steeper_after_177_3_ms() -> None:
    assert emodel.delay_impairment(0) == 0
    assert emodel.delay_impairment(100) == pytest.approx(2.4)
    assert emodel.delay_impairment(200) == pytest.approx(0.024 * 200 + 0.11 * 22.7)
    assert emodel.delay_impairment(-5) == 0


@pytest.mark.parametrize(("codec", "expected"), [
    (emodel.G711, 95 * 1 / (1 + 4.3)),
    (emodel.G711_PLC, 95 * 1 / (1 + 25.1)),
])
def test_loss_impairment_uses_bpl(codec: emodel.Codec, expected: float) -> None:
    assert emodel.effective_equipment_impairment(codec, 1.0) == pytest.approx(expected)
    assert emodel.effective_equipment_impairment(codec, 0.0) == 0.0


def test_one_percent_loss_without_plc_drops_mos_below_3_9() -> None:
    r = emodel.r_factor(emodel.G711, 1.0, 0.0)
    assert r == pytest.approx(93.2 - 95 / 5.3)
    assert emodel.mos_from_r(r) == pytest.approx(3.834, abs=1e-3)
    # concealment makes the same loss far less audible
    assert emodel.mos_from_r(emodel.r_factor(emodel.G711_PLC, 1.0, 0.0)) > 4.3


def test_mos_is_clamped() -> None:
    assert emodel.mos_from_r(-10) == 1.0
    assert emodel.mos_from_r(0) == 1.0
    assert emodel.mos_from_r(100) == 4.5
    assert emodel.mos_from_r(120) == 4.5


def test_round_trip_is_split_into_two_independent_halves() -> None:
    loss, delay = emodel.one_way_from_round_trip(19.0, 10.0)
    assert loss == pytest.approx(10.0)
    assert delay == 5.0
    assert emodel.one_way_from_round_trip(0.0, -1.0) == (0.0, 0.0)


def test_estimate_adds_frame_and_jitter_buffer_to_the_network_delay() -> None:
    r, mos, m2e = emodel.estimate_mos(0.0, 10.0, jitter_buffer_ms=40.0)
    assert m2e == 70.0
    assert r == pytest.approx(93.2 - 0.024 * 70)
    assert mos == pytest.approx(emodel.mos_from_r(r))
