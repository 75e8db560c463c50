"""Claims over seeds: run an experiment for several seeds and summarise every number it returns
as a mean with its standard error and 95% interval.

One training run is an anecdote: the same recipe with another seed can land several points
away. A lesson's headline claim ("PPO beats SFT") is therefore a claim about the mean over
seeds, and it holds when the interval says so.

    from minigrad_tutorials.seeds import over_seeds
    stats = over_seeds(run_seed, seeds=range(5), workers=2, budget="quick")
    stats["PPO | win rate vs SFT"]            # Estimate(mean=0.68, sem=0.02, low=0.63, high=0.73, n=5, ...)
    stats["PPO | win rate vs SFT"].format()   # '0.680 ± 0.050'  (mean ± half-width of the 95% interval)
    verdict(stats["PPO | win rate vs SFT"], 0.5, "above")   # 'reproduced': the whole interval is above 0.5

An experiment is a function `experiment(seed, **kwargs) -> {name: number}`. With workers=1 the
seeds run one after another in this process. With workers > 1, or in the background with
`start_seeds` (a lesson runs seed 0 itself, to show its models, while the other seeds train),
each seed runs in a fresh Python process (`python -m minigrad_tutorials.seeds`): the experiment must then
be a module-level function, its keyword arguments JSON, and its numbers come back as JSON.
Fresh processes rather than fork: a lesson runs inside the tour, whose threads a fork would
copy half-way, and spawn-style pools would re-run the lesson script itself in every worker.

The interval is Student's t: mean ± t(0.975, n - 1) * s / sqrt(n), with s the sample standard
deviation (n - 1 in the denominator) over seeds. It assumes the seeds' results are independent
draws, which they are when every random choice of the experiment follows its seed.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence


@dataclass(frozen=True)
class Estimate:
    """A metric over seeds: mean, standard error of the mean, the interval [low, high], the
    number of seeds and the values themselves (in seed order)."""
    mean: float
    sem: float
    low: float
    high: float
    n: int
    values: tuple
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        return self.high - self.mean

    def format(self, digits: int = 3) -> str:
        """"mean ± half-width" ("0.680 ± 0.050"); a single seed shows its value and "(1 seed)"."""
        if self.n < 2:
            return f"{self.mean:.{digits}f} (1 seed)"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"

    def above(self, value: float) -> bool:
        """The whole interval lies above `value` (the claim "mean > value" holds at this confidence)."""
        return self.low > value

    def below(self, value: float) -> bool:
        return self.high < value


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (scipy's)."""
    try:
        from scipy import stats  # noqa: PLC0415  (optional dependency, in the tour extra)
    except ImportError:
        raise ImportError("minigrad_tutorials.seeds: the t interval needs scipy; pip install 'minigrad[tour]' "
                          "(or pip install scipy)") from None
    return float(stats.t.ppf(p, df))


def estimate(values: Iterable[float], confidence: float = 0.95) -> Estimate:
    """Mean, standard error and the two-sided t interval of `values` (one per seed).

    With one value the standard error and the interval are undefined: sem is nan and the
    interval is (-inf, inf), so no claim passes on a single seed."""
    values = tuple(float(v) for v in values)
    if not values:
        raise ValueError("estimate: no values (run at least one seed)")
    if not 0 < confidence < 1:
        raise ValueError(f"estimate: confidence must be in (0, 1), got {confidence}")
    if any(math.isnan(v) for v in values):
        raise ValueError(f"estimate: a value is nan ({values}); the experiment returned no number for a seed")
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return Estimate(mean, math.nan, -math.inf, math.inf, 1, values, confidence)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    sem = sd / math.sqrt(n)
    half = t_quantile(0.5 + confidence / 2, n - 1) * sem
    return Estimate(mean, sem, mean - half, mean + half, n, values, confidence)


def difference(results: Sequence[dict], a: str, b: str, confidence: float = 0.95) -> Estimate:
    """The per-seed difference `a - b` of two metrics, summarised over seeds. Two models trained
    from the same seed share their data and evaluation, so their paired difference is tighter
    than two separate intervals."""
    return estimate([r[a] - r[b] for r in results], confidence)


# what a claim's verdict can be: the interval says so, or it does not (yet)
REPRODUCED, NOT_SHOWN = "reproduced", "not shown at this budget"


def verdict(test: Estimate, threshold: float = 0.0, direction: str = "above") -> str:
    """REPRODUCED when the whole 95% interval of `test` lies on the claimed side of `threshold`
    ("above" or "below"), NOT_SHOWN otherwise: never from the mean alone, and never from a single
    seed (whose interval is unbounded)."""
    if direction not in ("above", "below"):
        raise ValueError(f"verdict: direction must be 'above' or 'below', got {direction!r}")
    holds = test.above(threshold) if direction == "above" else test.below(threshold)
    return REPRODUCED if holds else NOT_SHOWN


def seed_plan(seeds: int, seconds: float | None, cores: int | None = None) -> tuple[int, float | None]:
    """(workers, seconds per seed) for running `seeds` seeds of an experiment whose one run has a
    wall-clock budget of `seconds` (None: fixed step counts, nothing to split).

    The seeds run `workers` at a time, one process each, as many at once as there are cores; the
    rounds that follow one another share the budget, so all seeds together take about `seconds`:
    a lesson's share of the tour does not grow with its seeds. (With one core and two seeds each
    gets half the time; with two cores each gets all of it, on its own core.)"""
    if seeds < 1:
        raise ValueError(f"seed_plan: run at least one seed, got {seeds}")
    cores = max(1, cores if cores is not None else (os.cpu_count() or 1))
    workers = min(seeds, cores)
    if seconds is None:
        return workers, None
    rounds = math.ceil(seeds / workers)
    return workers, seconds / rounds


def summarize(results: Sequence[dict], confidence: float = 0.95) -> dict[str, Estimate]:
    """{metric: Estimate} over a list of per-seed results ({metric: number}). A metric must be in
    every result: a seed that lacks one would bias the mean without saying so."""
    if not results:
        raise ValueError("summarize: no results")
    names = list(results[0])
    for i, r in enumerate(results[1:], 1):
        if set(r) != set(names):
            missing = sorted(set(names) ^ set(r))
            raise ValueError(f"summarize: seed result {i} has different metrics from result 0 ({missing}); "
                             "every seed must report the same numbers")
    return {name: estimate([r[name] for r in results], confidence) for name in names}


# -- running seeds -----------------------------------------------------------------------------------
def _reference(experiment: Callable) -> tuple[str, str]:
    """(module, qualified name) by which a fresh process finds `experiment`."""
    module, qualname = getattr(experiment, "__module__", None), getattr(experiment, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        raise ValueError(f"minigrad_tutorials.seeds: to run seeds in other processes the experiment must be a "
                         f"module-level function of an importable module, got {qualname or experiment!r} "
                         f"in {module!r}; move it into a module (or use workers=1)")
    return module, qualname


def _resolve(module: str, qualname: str) -> Callable:
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _numbers(result, seed) -> dict[str, float]:
    if not isinstance(result, dict) or not all(isinstance(v, (int, float)) for v in result.values()):
        raise TypeError(f"minigrad_tutorials.seeds: the experiment must return a dict of numbers, got "
                        f"{type(result).__name__} for seed {seed}")
    return {str(k): float(v) for k, v in result.items()}


class SeedRuns:
    """Seeds running in the background, one fresh process each, `workers` at a time.
    `results()` waits for them and returns their dicts in seed order."""

    def __init__(self, experiment: Callable, seeds: Sequence[int], workers: int = 1, **kwargs):
        self.seeds = [int(s) for s in seeds]
        if workers < 1:
            raise ValueError(f"minigrad_tutorials.seeds: workers must be >= 1, got {workers}")
        self.reference = _reference(experiment)
        try:
            self.kwargs_json = json.dumps(kwargs)
        except TypeError as e:
            raise TypeError(f"minigrad_tutorials.seeds: keyword arguments for other processes must be JSON ({e})") from None
        self._pool = ThreadPoolExecutor(max_workers=min(workers, max(1, len(self.seeds))))
        self._futures = [self._pool.submit(self._run_one, seed) for seed in self.seeds]

    def _run_one(self, seed: int) -> dict[str, float]:
        # the child finds what this process finds (a lesson run from a checkout adds the repo to sys.path)
        env = dict(os.environ, MINIGRAD_QUIET="1", PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        with tempfile.TemporaryDirectory(prefix="minigrad-seed-") as tmp:
            out = Path(tmp) / "result.json"
            proc = subprocess.run([sys.executable, "-m", "minigrad_tutorials.seeds", *self.reference, self.kwargs_json,
                                   str(seed), str(out)], env=env, capture_output=True, text=True)
            if proc.returncode != 0 or not out.is_file():
                tail = (proc.stderr or proc.stdout)[-3000:]
                raise RuntimeError(f"minigrad_tutorials.seeds: seed {seed} of {'.'.join(self.reference)} failed "
                                   f"(exit {proc.returncode}):\n{tail}")
            return json.loads(out.read_text())

    def done(self) -> bool:
        return all(f.done() for f in self._futures)

    def results(self) -> list[dict[str, float]]:
        try:
            return [f.result() for f in self._futures]
        finally:
            self._pool.shutdown(wait=False)


def start_seeds(experiment: Callable, seeds: Sequence[int], workers: int = 1, **kwargs) -> SeedRuns:
    """Start `experiment(seed, **kwargs)` for each seed in background processes and return at once."""
    return SeedRuns(experiment, seeds, workers, **kwargs)


def run_seeds(experiment: Callable, seeds: Iterable[int], workers: int = 1, **kwargs) -> list[dict[str, float]]:
    """Each seed's result dict, in seed order: in this process (workers=1) or in `workers`
    parallel processes."""
    seeds = [int(s) for s in seeds]
    if workers == 1:
        return [_numbers(experiment(seed, **kwargs), seed) for seed in seeds]
    return start_seeds(experiment, seeds, workers, **kwargs).results()


def over_seeds(experiment: Callable, seeds: Iterable[int], workers: int = 1, confidence: float = 0.95,
               **kwargs) -> dict[str, Estimate]:
    """Run `experiment(seed, **kwargs)` for every seed and summarise each metric it returns."""
    return summarize(run_seeds(experiment, seeds, workers, **kwargs), confidence)


def _worker_main(argv: Sequence[str]) -> int:
    """`python -m minigrad_tutorials.seeds MODULE QUALNAME KWARGS_JSON SEED OUT`: one seed, its numbers to OUT."""
    module, qualname, kwargs_json, seed, out = argv
    result = _numbers(_resolve(module, qualname)(int(seed), **json.loads(kwargs_json)), seed)
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
