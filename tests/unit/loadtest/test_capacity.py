"""Sizing model: seed formula, per-call regression from ramp points, table rendering."""

from __future__ import annotations

import math

import pytest

from loadtest import capacity


def test_seed_formula_matches_the_seed_example() -> None:
    assert capacity.seed_cores(500) == 17
    assert capacity.seed_cores(100) == 5
    assert capacity.seed_cores(0) == 2
    assert capacity.seed_bandwidth_mbit(500) == pytest.approx(50)


def test_fit_line_recovers_an_exact_line() -> None:
    fit = capacity.fit_line([0, 10, 20, 40], [5, 15, 25, 45])
    assert fit.slope == pytest.approx(1.0)
    assert fit.intercept == pytest.approx(5.0)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.at(100) == pytest.approx(105)


def test_fit_line_on_noisy_points() -> None:
    fit = capacity.fit_line([10, 20, 30], [1.0, 3.0, 2.0])
    assert fit.slope == pytest.approx(0.05)
    assert fit.intercept == pytest.approx(1.0)
    assert 0 <= fit.r2 < 1


def test_fit_line_single_point_goes_through_origin_and_skips_nan() -> None:
    fit = capacity.fit_line([10, 20], [5.0, math.nan])
    assert fit.slope == pytest.approx(0.5)
    assert fit.intercept == 0.0
    assert fit.points == 1


@pytest.mark.parametrize(("xs", "ys"), [([], []), ([0], [3.0]), ([1, 2], [1.0])])
def test_fit_line_rejects_unusable_input(xs: list[float], ys: list[float]) -> None:
    with pytest.raises(ValueError):
        capacity.fit_line(xs, ys)


def _steps() -> list[dict[str, float]]:
    return [{"calls": n, "established": n, "cpu_pct": 2 + 0.5 * n, "rss_mb": 90 + 0.25 * n,
             "webrtc_kbit_per_call": 88.0, "sip_kbit_per_call": 80.0} for n in (10, 50, 100)]


def test_call_model_is_fitted_on_established_calls() -> None:
    steps = _steps()
    steps.append({"calls": 300, "established": 200, "cpu_pct": 102.0, "rss_mb": 140.0})
    model = capacity.call_model(steps)
    assert model.cpu_pct_per_call == pytest.approx(0.5)
    assert model.base_cpu_pct == pytest.approx(2.0)
    assert model.rss_mb_per_call == pytest.approx(0.25)
    assert model.base_rss_mb == pytest.approx(90)
    assert model.webrtc_kbit_per_call == pytest.approx(88.0)
    assert model.max_calls_measured == 200


def test_call_model_leaves_out_invalid_steps() -> None:
    steps = [*_steps(), {"calls": 200, "established": 200, "cpu_pct": 20.0, "rss_mb": 1.0,
                         "valid": False},
             {"calls": 300, "established": 300, "cpu_pct": 40.0, "rss_mb": 1.0,
              "over_limit": True}]
    model = capacity.call_model(steps)
    assert model.cpu_pct_per_call == pytest.approx(0.5)
    assert model.steps_used == 3
    assert model.max_calls_measured == 100


def test_call_model_needs_calls() -> None:
    with pytest.raises(ValueError):
        capacity.call_model([{"calls": 0, "established": 0, "cpu_pct": 1.0, "rss_mb": 90.0}])


def test_sizing_row_for_500_calls() -> None:
    model = capacity.call_model(_steps())
    row = capacity.sizing_row(500, model, headroom=1.5, base_cores=2.0)
    assert row.seed_cores == 17
    # (500 * 0.5 + 2) % of a core * 1.5 = 3.78 cores, + 2 base -> 6
    assert row.measured_cores == 6
    # one process holds floor((100 / 1.5 - 2) / 0.5) = 129 calls -> 4 processes
    assert row.gateway_processes == 4
    assert row.gateway_rss_mb == pytest.approx(4 * 90 + 500 * 0.25)
    assert row.seed_mbit == 50
    assert row.webrtc_mbit == pytest.approx(44.0)
    assert row.sip_mbit == pytest.approx(40.0)


def test_multithreaded_server_is_one_process() -> None:
    model = capacity.call_model(_steps())
    row = capacity.sizing_row(500, model, single_core=False)
    assert row.gateway_processes == 1
    assert row.measured_cores == 6
    assert row.gateway_rss_mb == pytest.approx(90 + 500 * 0.25)


def test_sizing_row_rounds_seed_cores_up_and_validates() -> None:
    model = capacity.call_model(_steps())
    assert capacity.sizing_row(50, model).seed_cores == 4  # 3.5 -> 4
    with pytest.raises(ValueError):
        capacity.sizing_row(-1, model)
    with pytest.raises(ValueError):
        capacity.sizing_row(10, model, headroom=0.5)


def test_more_expensive_calls_need_more_cores() -> None:
    cheap = capacity.call_model(_steps())
    dear = capacity.call_model([{**s, "cpu_pct": 3.0 * s["calls"]} for s in _steps()])
    assert capacity.sizing_row(500, dear).measured_cores > \
        capacity.sizing_row(500, cheap).measured_cores
    assert capacity.sizing_row(500, dear, headroom=1.0, base_cores=2.0).measured_cores == 17


def test_user_model_and_rows() -> None:
    steps = [{"users": u, "rss_mb": 90 + 0.05 * u, "cpu_pct": 0.001 * u} for u in (0, 100, 500)]
    model = capacity.user_model(steps)
    assert model.rss_mb_per_user == pytest.approx(0.05)
    assert model.base_rss_mb == pytest.approx(90)
    row = capacity.user_row(1000, model)
    assert row.within_seed_limit is True
    assert row.gateway_rss_mb == pytest.approx(140)
    assert row.cpu_pct == pytest.approx(1.0)
    assert capacity.user_row(1001, model).within_seed_limit is False
    with pytest.raises(ValueError):
        capacity.user_model([{"users": 0, "rss_mb": 90.0, "cpu_pct": 0.0}])


def test_render_table_aligns_columns() -> None:
    text = capacity.render_table(("a", "long header"), [[1, 2.5], [1000, math.nan], [True, 1234.5]])
    lines = text.splitlines()
    assert lines[0] == "|    a | long header |"
    assert lines[1] == "|-----:|------------:|"
    assert lines[2] == "|    1 |        2.50 |"
    assert lines[3] == "| 1000 |           - |"
    assert lines[4] == "|  yes |        1234 |"
    assert len({len(line) for line in lines}) == 1
    with pytest.raises(ValueError):
        capacity.render_table(("a",), [[1, 2]])


def test_call_table_has_a_row_per_target() -> None:
    model = capacity.call_model(_steps())
    text = capacity.call_table([capacity.sizing_row(n, model) for n in (50, 500)])
    assert "seed cores" in text.splitlines()[0]
    assert len(text.splitlines()) == 4
    assert "|   500 |         17 |" in text
