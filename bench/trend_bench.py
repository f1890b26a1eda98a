"""The GrwV Anlage 6 trend test over a fleet (issue 11, target 6): gwmon's `mann_kendall`
against pymannkendall on the same series, in one process, one run.

`probes` series of `years` × 365 daily nitrate values (1,000 × 5 years: 1,826 values
each): a third rising, a third falling, a third without trend, rounded to 0.1 mg/L (ties),
with AR(1) noise (serial correlation, what the Hamed-Rao correction is for). Both
libraries run the plain test (gwmon `autocorrelation="none"` vs pymannkendall
`original_test`) and the Hamed-Rao modified test (`"hamed_rao"` vs
`hamed_rao_modification_test`); Sen's slope is part of both. The bench also checks that
they agree: S exactly and Sen's slope to 1e-9 relative for both tests, Var(S) to 1e-9
for the plain test; for Hamed-Rao it reports how often the verdicts agree and the largest
difference of Var(S): pymannkendall ranks near-ties of the detrended series by float
noise where gwmon ranks them as ties (docs/trend.md).

    .venv/bin/python bench/trend_bench.py [--probes 1000] [--years 5]
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pymannkendall as mk

from gwmon.analytics import mann_kendall
from gwmon.analytics._mann_kendall import Autocorrelation

DAY_S = 86_400
START_S = 1_577_836_800  # 2020-01-01 UTC
ALPHA = 0.05


def make_series(probes: int, days: int, seed: int = 11) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    series = []
    for number in range(probes):
        slope = (0.004, -0.004, 0.0)[number % 3]  # mg/L per day
        noise = np.empty(days)
        noise[0] = rng.normal(0, 1)
        for day in range(1, days):  # AR(1), phi 0.5
            noise[day] = 0.5 * noise[day - 1] + rng.normal(0, 1)
        values = 30 + slope * np.arange(days) + 2 * noise
        series.append(np.round(values, 1))
    return series


Figures = tuple[float, float, float, float]  # S, Var(S), p, Sen's slope per year


def run_gwmon(times: list[float], lists: list[list[float]], mode: Autocorrelation) -> list[Figures]:
    results = (mann_kendall(times, x, autocorrelation=mode) for x in lists)
    return [(float(r.s or 0), r.var_s or 0.0, r.p or 0.0, r.slope_per_year or 0.0) for r in results]


def run_pymannkendall(test: Callable[[np.ndarray], Any], series: list[np.ndarray]) -> list[Figures]:
    results = (test(x) for x in series)
    return [(float(r.s), float(r.var_s), float(r.p), float(r.slope) * 365.25) for r in results]


def timed(label: str, run: Callable[[], list[Figures]]) -> tuple[float, list[Figures]]:
    started = time.perf_counter()
    results = run()
    seconds = time.perf_counter() - started
    print(f"{label:<58} {seconds:7.2f} s", flush=True)
    return seconds, results


def close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()
    days = args.years * 365 + args.years // 4 + (1 if args.years % 4 else 0)
    series = make_series(args.probes, days)
    times = (START_S + DAY_S * np.arange(days)).tolist()
    lists = [values.tolist() for values in series]
    print(f"{args.probes:,} series × {days:,} daily values")
    failures = 0
    ratios = []
    tests: tuple[tuple[Autocorrelation, Callable[[np.ndarray], Any], str], ...] = (
        ("none", mk.original_test, "plain Mann-Kendall + Sen's slope"),
        ("hamed_rao", mk.hamed_rao_modification_test, "Hamed-Rao modified + Sen's slope"),
    )
    for ours, theirs, label in tests:
        gwmon_s, gwmon = timed(
            f"gwmon mann_kendall(autocorrelation={ours!r})",
            functools.partial(run_gwmon, times, lists, ours),
        )
        pymk_s, pymk = timed(
            f"pymannkendall.{theirs.__name__}",
            functools.partial(run_pymannkendall, theirs, series),
        )
        same_s_slope = all(
            a[0] == b[0] and close(a[3], b[3], 1e-9) for a, b in zip(gwmon, pymk, strict=True)
        )
        same_verdict = sum(
            (a[2] < ALPHA) == (b[2] < ALPHA) for a, b in zip(gwmon, pymk, strict=True)
        )
        worst = max(abs(a[1] - b[1]) / b[1] for a, b in zip(gwmon, pymk, strict=True) if b[1] > 0)
        failures += not same_s_slope
        if ours == "none":
            failures += worst > 1e-9
        ratios.append((label, gwmon_s, pymk_s))
        print(
            f"  S and Sen's slope equal in all: {same_s_slope}; significance (p < {ALPHA}) "
            f"equal in {same_verdict} of {len(series)}; largest relative difference of "
            f"Var(S): {worst:.1e}"
        )
    print("\n| test | gwmon | pymannkendall | pymannkendall / gwmon |\n|---|---|---|---|")
    for label, gwmon_s, pymk_s in ratios:
        print(f"| {label} | {gwmon_s:.1f} s | {pymk_s:.1f} s | {pymk_s / gwmon_s:.1f} × |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
