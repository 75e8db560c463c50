"""minigrad_tutorials.seeds: the statistics against hand-worked values and a t-table, and seeds run in
this process, in parallel processes and in the background."""
import math
import textwrap

import pytest

from minigrad_tutorials.seeds import estimate, over_seeds, run_seeds, start_seeds, summarize

pytest.importorskip("scipy", reason="the t interval uses scipy (the tour extra)")

# Student's t, two-sided 95% (the 0.975 quantile), from a printed t-table
T_TABLE_975 = {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 29: 2.045}


def test_estimate_by_hand_five_seeds():
    # mean 0.7; squared deviations .01 0 .01 .04 .04 sum to 0.1; s^2 = 0.1 / 4 = 0.025
    e = estimate([0.6, 0.7, 0.8, 0.5, 0.9])
    assert e.n == 5 and e.values == (0.6, 0.7, 0.8, 0.5, 0.9)
    assert e.mean == pytest.approx(0.7)
    assert e.sem == pytest.approx(math.sqrt(0.025) / math.sqrt(5))          # 0.070711
    assert e.sem == pytest.approx(0.070711, abs=1e-6)
    half = T_TABLE_975[4] * 0.070711                                          # 0.19629
    assert e.low == pytest.approx(0.7 - half, abs=1e-3) and e.high == pytest.approx(0.7 + half, abs=1e-3)
    assert e.half_width == pytest.approx(half, abs=1e-3)
    assert e.format() == "0.700 ± 0.196"
    assert e.above(0.5) and not e.above(0.6) and e.below(0.9) and not e.below(0.85)


@pytest.mark.parametrize("df", sorted(T_TABLE_975))
def test_interval_uses_the_t_table(df):
    # values -1, +1 repeated: mean 0; for n = df + 1 the half-width over sem is t(0.975, df)
    values = [(-1) ** i for i in range(df + 1)]
    e = estimate(values)
    assert e.half_width / e.sem == pytest.approx(T_TABLE_975[df], abs=1e-3)


def test_three_seeds_and_a_90_percent_interval():
    e = estimate([1.0, 2.0, 3.0])                    # s = 1, sem = 1 / sqrt(3)
    assert e.sem == pytest.approx(1 / math.sqrt(3))
    assert e.half_width == pytest.approx(4.303 / math.sqrt(3), abs=1e-3)
    e90 = estimate([1.0, 2.0, 3.0], confidence=0.90)  # t(0.95, 2) = 2.920
    assert e90.half_width == pytest.approx(2.920 / math.sqrt(3), abs=1e-3)


def test_one_seed_supports_no_claim_and_bad_input_is_refused():
    e = estimate([0.9])
    assert e.mean == 0.9 and math.isnan(e.sem) and e.low == -math.inf and e.high == math.inf
    assert not e.above(0.0) and e.format() == "0.900 (1 seed)"
    with pytest.raises(ValueError, match="no values"):
        estimate([])
    with pytest.raises(ValueError, match="nan"):
        estimate([1.0, float("nan")])
    with pytest.raises(ValueError, match="different metrics"):
        summarize([{"a": 1.0, "b": 2.0}, {"a": 1.0}])


def square_and_offset(seed, offset=0.0):
    return {"x": float(seed * seed) + offset, "seed": seed}


def test_over_seeds_in_process_summarises_every_metric():
    stats = over_seeds(square_and_offset, [1, 2, 3], offset=0.5)
    assert set(stats) == {"x", "seed"}
    assert stats["x"].values == (1.5, 4.5, 9.5) and stats["x"].mean == pytest.approx(15.5 / 3)
    assert stats["seed"].mean == 2.0 and stats["seed"].sem == pytest.approx(1 / math.sqrt(3))
    with pytest.raises(TypeError, match="dict of numbers"):
        run_seeds(lambda seed: [seed], [0])


@pytest.fixture
def experiment_module(tmp_path, monkeypatch):
    """A module-level experiment in an importable module of its own, as other processes need it."""
    (tmp_path / "seeds_probe.py").write_text(textwrap.dedent("""
        import os

        def experiment(seed, scale=1.0):
            if seed < 0:
                raise RuntimeError("negative seeds are not allowed here")
            return {"value": seed * scale, "pid": os.getpid()}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("seeds_probe")


def test_seeds_in_parallel_processes_match_the_in_process_run(experiment_module):
    parallel = run_seeds(experiment_module.experiment, [3, 1, 2], workers=2, scale=2.0)
    serial = run_seeds(experiment_module.experiment, [3, 1, 2], scale=2.0)
    assert [r["value"] for r in parallel] == [r["value"] for r in serial] == [6.0, 2.0, 4.0]
    import os

    assert all(r["pid"] != os.getpid() for r in parallel)      # they ran elsewhere
    assert len({r["pid"] for r in parallel}) == 3               # a fresh process per seed


def test_background_seeds_and_their_errors(experiment_module):
    pending = start_seeds(experiment_module.experiment, [4], scale=0.5)
    assert [r["value"] for r in pending.results()] == [2.0]
    with pytest.raises(RuntimeError, match="(?s)seed -1 .*negative seeds are not allowed"):
        start_seeds(experiment_module.experiment, [-1]).results()
    with pytest.raises(ValueError, match="module-level function"):
        start_seeds(lambda seed: {"x": 1.0}, [0])
    with pytest.raises(TypeError, match="JSON"):
        start_seeds(experiment_module.experiment, [0], scale=object())


# -- verdicts and the per-seed budget ------------------------------------------------------------
def test_verdict_comes_from_the_interval_not_the_mean():
    from minigrad_tutorials.seeds import NOT_SHOWN, REPRODUCED, verdict

    # [0.6, 0.7, 0.8, 0.5, 0.9]: mean 0.7, 95% interval 0.7 -+ 2.776 * 0.070711 = [0.5037, 0.8963]
    e = estimate([0.6, 0.7, 0.8, 0.5, 0.9])
    assert verdict(e, 0.5, "above") == REPRODUCED            # 0.5037 > 0.5
    assert verdict(e, 0.51, "above") == NOT_SHOWN            # the mean is above, the interval is not
    assert verdict(e, 0.9, "below") == REPRODUCED            # 0.8963 < 0.9
    assert verdict(e, 0.89, "below") == NOT_SHOWN
    # two seeds: mean 0.65, sem 0.05, half-width 12.706 * 0.05 = 0.6353: interval [0.0147, 1.2853]
    two = estimate([0.6, 0.7])
    assert two.half_width == pytest.approx(0.6353, abs=1e-3)
    assert verdict(two, 0.0, "above") == REPRODUCED
    assert verdict(two, 0.1, "above") == NOT_SHOWN       # both seeds are far above 0.1, two seeds are not enough
    assert verdict(estimate([0.9]), 0.0, "above") == NOT_SHOWN    # one seed never shows a claim
    with pytest.raises(ValueError, match="direction"):
        verdict(e, 0.5, "over")


def test_difference_is_paired_by_seed():
    from minigrad_tutorials.seeds import difference

    # a and b differ by about 1 in every seed, while each varies by 10 across seeds
    results = [{"a": 11.0, "b": 10.0}, {"a": 21.5, "b": 20.5}, {"a": 31.0, "b": 29.8}]
    d = difference(results, "a", "b")
    assert d.values == pytest.approx((1.0, 1.0, 1.2)) and d.mean == pytest.approx(3.2 / 3)
    assert d.low > 0                                      # the paired interval sees it
    assert estimate([11.0, 21.5, 31.0]).low < estimate([10.0, 20.5, 29.8]).high   # separate ones overlap


@pytest.mark.parametrize("seeds, seconds, cores, expected", [
    (2, 60.0, 2, (2, 60.0)),      # side by side, each on its own core: each gets the whole budget
    (2, 60.0, 1, (1, 30.0)),      # one core: the two take turns and split it
    (5, 60.0, 2, (2, 20.0)),      # three rounds of at most two
    (5, 60.0, 16, (5, 60.0)),
    (5, None, 2, (2, None)),      # fixed step counts: nothing to split
    (1, 60.0, 4, (1, 60.0)),
])
def test_seed_plan_splits_a_time_budget_over_rounds(seeds, seconds, cores, expected):
    from minigrad_tutorials.seeds import seed_plan

    assert seed_plan(seeds, seconds, cores) == expected
    workers, per_seed = expected
    if seconds is not None:   # all rounds together take the one budget
        assert math.ceil(seeds / workers) * per_seed == pytest.approx(seconds)


def test_seed_plan_refuses_no_seeds():
    from minigrad_tutorials.seeds import seed_plan

    with pytest.raises(ValueError, match="at least one seed"):
        seed_plan(0, 10.0, 2)
