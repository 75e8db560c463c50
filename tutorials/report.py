"""What a lesson leaves behind: figures, graphs, tables and numbers in one folder.

Every tutorial is a plain script of percent-format cells. It opens a `Lesson` with its point in
one sentence, records what it wants a reader to see, says whether the point showed, and calls
`finish()`, which writes `result.json`. `minigrad tour` runs the lessons and turns those
folders into one report (index.html and README.md).

    lesson = Lesson("04_rnn", "RNN, LSTM, GRU", point="Gated cells beat the plain RNN.")
    budget = lesson.train_budget(fast=60, full=3000, quick_seconds=25)  # {"steps": .., "seconds": ..}
    stats = char_lm.train(model, batches, **budget)   # stops at the steps or the seconds
    lesson.trained("LSTM on names", stats["steps"], stats["seconds"])
    lesson.metric("LSTM dev loss", 1.93, note="3000 updates (--full) reach 1.925")
    lesson.table(rows, "loss", caption="...")          # rows: list of dicts
    lesson.figure(fig, "curves", caption="...", key=True)   # matplotlib -> png + svg; key: shown first
    lesson.graph(digraph, "lookup", caption="...")     # graphviz.Digraph -> svg (or .dot without `dot`)
    lesson.point_shown(lstm < rnn, f"LSTM {lstm:.3f} < RNN {rnn:.3f}")
    stats = over_seeds(...)                            # minigrad_tutorials.seeds: {metric: Estimate}
    lesson.claim("LSTM below RNN", {"RNN": stats["rnn"], "LSTM": stats["lstm"]},
                 test=difference(results, "lstm", "rnn"), threshold=0, direction="below",
                 test_name="LSTM - RNN")                # the verdict comes from the interval
    lesson.finish()

Every lesson runs at one of three budgets (`lesson.budget`):

    fast    a smoke test: every cell runs, on tiny models, for a fixed handful of steps; the
            numbers mean little (the test suite, `minigrad tour --fast`; `--fast` or MINIGRAD_FAST=1)
    quick   the default: each model trains for a share of wall-clock time (quick_seconds), as
            many steps as fit, up to the full budget's count; the whole tour takes about ten
            minutes on a 2-core laptop, busy or not, and each lesson says whether its point showed
    full    the fixed step counts the models' docstrings and the README quote (`minigrad tour
            --full`; `--full` or MINIGRAD_FULL=1)

Settings come from the command line (`--fast`/`--full`, `--out DIR`, `--data DIR`, `--threads N`)
or the environment (`MINIGRAD_FAST=1`/`MINIGRAD_FULL=1`, `MINIGRAD_OUT`, `MINIGRAD_DATA`,
`MINIGRAD_THREADS`), so the same file runs as a script, as a notebook and inside the tour. A flag
on the command line wins over the environment. Figures land in `out/NN_name/` beside where the
lesson runs unless told otherwise (the lesson prints where).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path


def _argv_value(flag: str) -> str | None:
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


BUDGETS = ("fast", "quick", "full")


def check_budget(budget: str) -> str:
    if budget not in BUDGETS:
        raise ValueError(f"tour: unknown budget {budget!r}; use one of {', '.join(BUDGETS)}")
    return budget


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def budget_mode() -> str:
    """"fast", "quick" (the default) or "full": from `--fast`/`--full` on the command line, else
    from MINIGRAD_FAST=1 / MINIGRAD_FULL=1. Asking for both at once is an error."""
    argv = sys.argv[1:]
    for fast, full, where in (("--fast" in argv, "--full" in argv, "command line: --fast and --full"),
                              (_env_flag("MINIGRAD_FAST"), _env_flag("MINIGRAD_FULL"),
                               "environment: MINIGRAD_FAST and MINIGRAD_FULL")):
        if fast and full:
            raise ValueError(f"lesson budget: both fast and full asked for ({where}); "
                             "pick one (or neither, for the default quick budget)")
        if fast or full:
            return "fast" if fast else "full"
    return "quick"


def data_dir() -> Path | None:
    """Where real corpora live (tinyshakespeare.txt, names.txt), if the user has them."""
    d = _argv_value("--data") or os.environ.get("MINIGRAD_DATA")
    return Path(d) if d else None


def fmt(value) -> str:
    """A value as a report shows it: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def columns(rows: list[dict]) -> list:
    """Every key of the rows, in the order they first appear."""
    cols = list(rows[0].keys())
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    return cols


def markdown_table(rows: list[dict]) -> str:
    """A Markdown table; a | inside a cell is escaped, or it would split the cell."""
    if not rows:
        return ""

    def cell(v):
        return fmt(v).replace("|", "\\|").replace("\n", " ")

    cols = columns(rows)
    lines = ["| " + " | ".join(cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _short(e) -> str:
    """An Estimate as "mean ± half-width" with the half-width to two significant digits."""
    if e.n < 2 or not math.isfinite(e.half_width) or e.half_width == 0:
        return e.format()
    digits = min(6, max(2, 1 - math.floor(math.log10(e.half_width))))
    return e.format(digits)


class Lesson:
    def __init__(self, name: str, title: str, out_dir: str | os.PathLike | None = None, point: str = ""):
        from . import autothreads

        self.name = name
        self.title = title
        self.point = point             # the lesson's point, in one sentence: the report starts with it
        self.budget = budget_mode()
        self.data_dir = data_dir()
        out = out_dir or _argv_value("--out") or os.environ.get("MINIGRAD_OUT")
        self.out_dir = Path(out) if out else Path("out") / name
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.items: list[dict] = []
        self.metrics: dict[str, float | int | str] = {}
        self.notes: dict[str, str] = {}
        self.training: list[dict] = []
        self.verdict: dict | None = None
        self.claims: list[dict] = []
        # which seed this process runs (0 unless it is one of a lesson's other seeds, see run_seeds),
        # and the share of each wall-clock budget it gets (seeds that take turns split the time)
        self.seed = int(os.environ.get("MINIGRAD_SEED", "0"))
        self.time_share = float(os.environ.get("MINIGRAD_TIME_SHARE", "1"))
        self._other_seeds = None
        self._t0 = time.perf_counter()
        autothreads.apply(_argv_value("--threads"))  # chosen and said once per process (the tour's first)
        print(f"{self.name}: {self.budget} budget; figures and tables go to {self.out_dir.resolve()}")

    @property
    def fast(self) -> bool:
        """The smoke test (tests, `tour --fast`)."""
        return self.budget == "fast"

    @property
    def quick(self) -> bool:
        """The default budget."""
        return self.budget == "quick"

    @property
    def full(self) -> bool:
        """The budgets the docstrings and the README quote."""
        return self.budget == "full"

    def pick(self, *, fast, quick, full):
        """The value for this run's budget: `hidden = lesson.pick(fast=48, quick=128, full=256)`."""
        return {"fast": fast, "quick": quick, "full": full}[self.budget]

    def train_budget(self, *, fast: int, full: int, quick_seconds: float) -> dict:
        """How long one training loop runs, as keyword arguments for it: {"steps": ..., "seconds": ...}.
        fast and full are fixed step counts; quick trains for `quick_seconds` of wall clock (as many
        steps as fit, at most `full`), so a slow or busy machine runs fewer steps, not more minutes."""
        if self.budget == "quick":
            return {"steps": full, "seconds": quick_seconds * self.time_share}
        return {"steps": fast if self.fast else full, "seconds": None}

    @property
    def other_seed(self) -> bool:
        """True in the process of one of the lesson's other seeds (a section that does not feed
        the claims may skip itself there)."""
        return "MINIGRAD_SEED" in os.environ

    def run_seeds(self, *, fast: int = 2, quick: int = 2, full: int = 5) -> list[int]:
        """Run this lesson for more seeds, for its claims: seed 0 is this run; the others start now,
        each the whole lesson in a process of its own (minigrad_tutorials.seeds, with MINIGRAD_SEED set), and
        `seed_results()` collects their numbers at the end. As many seeds run at once as there are
        cores; seeds that must take turns split the quick budget's seconds (seeds.seed_plan), so the
        lesson takes about as long as one seed did. Call it before `train_budget`. Returns the seeds."""
        from .seeds import seed_plan, start_seeds

        n = self.pick(fast=fast, quick=quick, full=full)
        if self.other_seed:       # one of the other seeds itself: it runs only its own
            return list(range(n))
        workers, share = seed_plan(n, 1.0)
        self.time_share = share
        if n > 1:
            from .tour import lesson_seed, lessons_dir   # the app layer runs a lesson

            # the running script (as a script or in the tour), else (a notebook) the lesson of this name
            main_file = getattr(sys.modules.get("__main__"), "__file__", None)
            path = Path(main_file) if main_file and Path(main_file).stem == self.name else \
                lessons_dir() / f"{self.name}.py"
            # on a time budget each seed keeps a core (this process is one); on fixed step counts the
            # other seeds may share the cores with it: the work is the same, and it ends sooner
            background = max(1, workers - 1) if self.quick else min(n - 1, os.cpu_count() or 1)
            self._other_seeds = start_seeds(lesson_seed, range(1, n), workers=background,
                                            path=str(path.resolve()), budget=self.budget,
                                            time_share=share, data=str(self.data_dir) if self.data_dir else None)
        return list(range(n))

    def seed_results(self) -> list[dict]:
        """Every seed's numbers (this run's metrics first, then the other seeds', in seed order):
        the metrics every seed recorded (a section the other seeds skip has none to compare)."""
        own = {k: float(v) for k, v in self.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        runs = [own] + (self._other_seeds.results() if self._other_seeds is not None else [])
        common = [k for k in own if all(k in r for r in runs)]
        return [{k: r[k] for k in common} for r in runs]

    def trained(self, what: str, steps: int, seconds: float) -> None:
        """Record how long one model trained: the report lists it under the lesson's point."""
        self.training.append({"model": what, "steps": int(steps), "seconds": round(float(seconds), 1)})

    def point_shown(self, shown: bool, evidence: str) -> bool:
        """Whether the lesson's point showed in this run's numbers, and the numbers that say so."""
        self.verdict = {"shown": bool(shown), "evidence": evidence}
        print(f"point {'shown' if shown else 'NOT shown'} at the {self.budget} budget: {evidence}")
        return bool(shown)

    def claim(self, claim: str, measured: dict, test, threshold: float = 0.0, direction: str = "above",
              test_name: str = "") -> str:
        """A headline claim of the lecture, judged over seeds: `measured` names the numbers that
        matter ({label: minigrad_tutorials.seeds.Estimate}), `test` is the Estimate whose 95% interval must
        lie `direction` ("above" / "below") `threshold` for the claim to count as reproduced
        (minigrad_tutorials.seeds.verdict). The tour gathers every lesson's claims into one table."""
        from .seeds import verdict

        said = verdict(test, threshold, direction)
        sign = ">" if direction == "above" else "<"
        row = {"claim": claim,
               "measured": "; ".join(f"{label} {_short(e)}" for label, e in measured.items()),
               "test": f"{test_name or 'difference'} {_short(test)} {sign} {threshold:g}",
               "seeds": test.n, "budget": self.budget, "verdict": said}
        self.claims.append(row)
        print(f"claim: {claim}: {said} ({row['measured']}; {row['test']}; {test.n} seeds, {self.budget} budget)")
        return said

    def say(self, text: str) -> None:
        """Print a line and keep it for the report (text of several lines is shown as it is,
        line by line: a trace, a sample)."""
        print(text)
        self.items.append({"kind": "text", "text": text})

    def metric(self, name: str, value, note: str = "") -> None:
        """A number of this run; `note` says what it means or what a longer budget reaches."""
        if hasattr(value, "item"):
            value = value.item()
        self.metrics[name] = value
        if note:
            self.notes[name] = note
        shown = f"{value:.4f}" if isinstance(value, float) else f"{value}"
        print(f"{name}: {shown}" + (f"  ({note})" if note else ""))

    def table(self, rows: list[dict], name: str, caption: str = "") -> str:
        md = markdown_table(rows)
        print(("\n" + caption if caption else "") + "\n" + md + "\n")
        self.items.append({"kind": "table", "name": name, "caption": caption, "rows": rows, "markdown": md})
        return md

    def figure(self, fig, name: str, caption: str = "", key: bool = False) -> Path:
        """Save a matplotlib figure as PNG (for the page) and SVG. `key`: the figure that carries
        the lesson's point, shown at the top of its section."""
        png = self.out_dir / f"{name}.png"
        fig.savefig(png, dpi=110, bbox_inches="tight")
        fig.savefig(self.out_dir / f"{name}.svg", bbox_inches="tight")
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)
        except ImportError:  # pragma: no cover
            pass
        self.items.append({"kind": "figure", "name": name, "caption": caption, "path": png.name, "key": key})
        return png

    def graph(self, digraph, name: str, caption: str = "", key: bool = False) -> Path:
        """Save a computation graph as SVG, or as DOT source when the `dot` program is missing."""
        from minigrad import viz

        path = viz.save(digraph, self.out_dir / name, format="svg", fallback_to_dot=True)
        self.items.append({"kind": "graph", "name": name, "caption": caption, "path": Path(path).name, "key": key})
        return Path(path)

    def finish(self) -> dict:
        result = {
            "name": self.name,
            "title": self.title,
            "fast": self.fast,
            "budget": self.budget,
            "seconds": round(time.perf_counter() - self._t0, 2),
            "point": self.point,
            "verdict": self.verdict,
            "claims": self.claims,
            "training": self.training,
            "metrics": self.metrics,
            "notes": self.notes,
            "items": self.items,
        }
        (self.out_dir / "result.json").write_text(json.dumps(result, indent=2, default=str))
        return result
