"""Capacity model: per-call and per-user costs fitted from ramp measurements, and the sizing
table that sets them beside the seed's rules.

Seed rules (the vendor's sizing sheet):

* cores = ((calls / 100) * 3) + 2   (500 simultaneous calls -> 17 cores);
* 0.1 Mbit/s of bandwidth per call;
* at most 1000 connected users per machine, whatever its size.

Measured rule: a straight line fitted by least squares through the ramp points gives the
gateway's CPU (% of one core) and resident memory as ``base + slope * calls``; the cores a
target needs are ``ceil(calls * slope / 100 * headroom + base_cores)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

SEED_USERS_PER_MACHINE = 1000
SEED_MBIT_PER_CALL = 0.1


def seed_cores(calls: float) -> float:
    """The seed's formula, ((calls / 100) * 3) + 2, without rounding."""
    return (calls / 100.0) * 3.0 + 2.0


def seed_bandwidth_mbit(calls: float) -> float:
    return calls * SEED_MBIT_PER_CALL


@dataclass(frozen=True)
class Fit:
    """y = intercept + slope * x, with the coefficient of determination."""

    slope: float
    intercept: float
    r2: float
    points: int

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """Least-squares line through (x, y) points; one point is read as a line through the
    origin, so a single ramp step still yields a per-unit cost."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    pts = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)
           if math.isfinite(float(x)) and math.isfinite(float(y))]
    if not pts:
        raise ValueError("no points to fit")
    n = len(pts)
    if n == 1 or len({x for x, _ in pts}) == 1:
        sx = sum(x for x, _ in pts)
        if sx == 0:
            raise ValueError("cannot fit a slope at x = 0 only")
        return Fit(sum(y for _, y in pts) / sx, 0.0, 1.0 if n == 1 else 0.0, n)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for _, y in pts)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in pts)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return Fit(slope, intercept, r2, n)


def _values(steps: Iterable[Mapping[str, Any]], key: str) -> list[float]:
    out = []
    for step in steps:
        value = step.get(key)
        out.append(float(value) if isinstance(value, int | float) else math.nan)
    return out


def _mean(values: Iterable[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else math.nan


@dataclass(frozen=True)
class CallModel:
    """Per-call costs of the gateway, fitted from call ramp steps."""

    cpu_pct_per_call: float  # % of one core
    base_cpu_pct: float
    cpu_r2: float
    rss_mb_per_call: float
    base_rss_mb: float
    rss_r2: float
    webrtc_kbit_per_call: float  # each way, IP level (UDP payload + 28 bytes of headers)
    sip_kbit_per_call: float  # each way, IP level
    max_calls_measured: int
    steps_used: int


def call_model(steps: Sequence[Mapping[str, Any]]) -> CallModel:
    """Fit the call model; the x of each step is the calls that were actually established.

    Steps marked ``"valid": false`` (the load generator did not send the nominal packet rate)
    or ``"over_limit": true`` (loss above the ramp's limit: past capacity, and a lossy relay
    does less work per call) are left out; the idle step (0 calls) anchors the intercept."""
    usable = [s for s in steps if s.get("valid") is not False and not s.get("over_limit")
              and isinstance(s.get("established", s.get("calls")), int | float)]
    if not any(s.get("established", s.get("calls")) for s in usable):
        raise ValueError("no valid ramp step with established calls")
    xs = [float(s.get("established", s.get("calls"))) for s in usable]
    cpu = fit_line(xs, _values(usable, "cpu_pct"))
    rss = fit_line(xs, _values(usable, "rss_mb"))
    return CallModel(
        cpu_pct_per_call=cpu.slope, base_cpu_pct=cpu.intercept, cpu_r2=cpu.r2,
        rss_mb_per_call=rss.slope, base_rss_mb=rss.intercept, rss_r2=rss.r2,
        webrtc_kbit_per_call=_mean(_values(usable, "webrtc_kbit_per_call")),
        sip_kbit_per_call=_mean(_values(usable, "sip_kbit_per_call")),
        max_calls_measured=int(max(xs)), steps_used=len(usable))


@dataclass(frozen=True)
class UserModel:
    """Per connected user (idle Janus session + registered SIP handle)."""

    rss_mb_per_user: float
    base_rss_mb: float
    rss_r2: float
    cpu_pct_per_user: float
    base_cpu_pct: float
    max_users_measured: int


def user_model(steps: Sequence[Mapping[str, Any]]) -> UserModel:
    usable = [s for s in steps if isinstance(s.get("users"), int | float)]
    if not usable:
        raise ValueError("no user step")
    xs = [float(s["users"]) for s in usable]
    if len(usable) == 1 and xs[0] == 0:
        raise ValueError("need a step with connected users")
    rss = fit_line(xs, _values(usable, "rss_mb"))
    cpu = fit_line(xs, _values(usable, "cpu_pct"))
    return UserModel(rss.slope, rss.intercept, rss.r2, cpu.slope, cpu.intercept,
                     int(max(xs)))


@dataclass(frozen=True)
class SizingRow:
    calls: int
    seed_cores: int
    measured_cores: int
    gateway_processes: int
    gateway_rss_mb: float
    seed_mbit: float
    webrtc_mbit: float  # each way
    sip_mbit: float  # each way


def sizing_row(calls: int, model: CallModel, headroom: float = 1.5,
               base_cores: float = 2.0, single_core: bool = True) -> SizingRow:
    """One line of the table for ``calls`` simultaneous calls.

    ``headroom`` keeps cores at most 1/headroom busy; ``base_cores`` covers what is not the
    gateway's media (OS, PBX, database, web front), as the seed's ``+ 2`` does. The gateway is
    one asyncio process per core, so it needs ``gateway_processes`` of them at that load;
    ``single_core=False`` is for a multi-threaded server (Janus): one process."""
    if calls < 0:
        raise ValueError("calls must be >= 0")
    if headroom < 1:
        raise ValueError("headroom must be >= 1")
    per_call = max(0.0, model.cpu_pct_per_call)
    base_cpu = max(0.0, model.base_cpu_pct)
    gateway_cores = (calls * per_call + base_cpu) / 100.0 * headroom
    measured = math.ceil(gateway_cores + base_cores - 1e-9)
    budget = 100.0 / headroom - base_cpu  # % of a core left for calls in one process
    if per_call == 0 or not single_core:
        processes = 1
    else:
        per_process = math.floor(budget / per_call)
        if per_process < 1:
            raise ValueError("one call does not fit in a gateway process at this headroom")
        processes = max(1, math.ceil(calls / per_process))
    rss = max(0.0, model.base_rss_mb) * processes + calls * max(0.0, model.rss_mb_per_call)
    return SizingRow(
        calls=calls, seed_cores=math.ceil(seed_cores(calls) - 1e-9), measured_cores=measured,
        gateway_processes=processes, gateway_rss_mb=round(rss, 1),
        seed_mbit=round(seed_bandwidth_mbit(calls), 2),
        webrtc_mbit=round(calls * model.webrtc_kbit_per_call / 1000.0, 2),
        sip_mbit=round(calls * model.sip_kbit_per_call / 1000.0, 2))


@dataclass(frozen=True)
class UserRow:
    users: int
    within_seed_limit: bool
    gateway_rss_mb: float
    cpu_pct: float


def user_row(users: int, model: UserModel) -> UserRow:
    return UserRow(users, users <= SEED_USERS_PER_MACHINE,
                   round(max(0.0, model.base_rss_mb) + users * max(0.0, model.rss_mb_per_user), 1),
                   round(max(0.0, model.base_cpu_pct)
                         + users * max(0.0, model.cpu_pct_per_user), 2))


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown pipe table with columns padded to their widest cell."""
    cells = [[_cell(v) for v in row] for row in rows]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError("row width differs from headers")
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.rjust(w) for v, w in zip(values, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(list(headers)), sep, *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if abs(value) < 10:
            return f"{value:.2f}"
        return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


CALL_HEADERS = ("calls", "seed cores", "measured cores", "gw procs", "gw RSS MB",
                "seed Mbit/s", "WebRTC Mbit/s", "SIP Mbit/s")
USER_HEADERS = ("users", "<= seed 1000", "gw RSS MB", "gw CPU % core")


def call_table(rows: Sequence[SizingRow]) -> str:
    return render_table(CALL_HEADERS, [list(asdict(r).values()) for r in rows])


def user_table(rows: Sequence[UserRow]) -> str:
    return render_table(USER_HEADERS, [list(asdict(r).values()) for r in rows])
