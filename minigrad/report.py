"""What a lesson leaves behind: figures, graphs, tables and numbers in one folder.

Every tutorial is a plain script of percent-format cells. It opens a `Lesson`, records what
it wants a reader to see, and calls `finish()`, which writes `result.json`. `minigrad tour`
runs the lessons and turns those folders into one report (index.html and README.md).

    lesson = Lesson("02_ngrams", "n-grams: counting, MLE, perplexity")
    steps = lesson.pick(fast=40, quick=1000, full=3000)   # the training budget of this run
    if lesson.fast: ...                     # the test suite and `tour --fast` set this
    lesson.metric("bigram dev loss", 2.45)
    lesson.table(rows, "perplexity", caption="...")   # rows: list of dicts
    lesson.figure(fig, "bigram_table")      # a matplotlib figure -> png + svg
    lesson.graph(digraph, "lookup")         # a graphviz.Digraph -> svg (or .dot without `dot`)
    lesson.finish()

Every lesson runs at one of three budgets (`lesson.budget`):

    fast    a smoke test: every cell runs, on tiny models, in seconds; the numbers mean little
            (the test suite, `minigrad tour --fast`; `--fast` or MINIGRAD_FAST=1)
    quick   the default: each model trains long enough that the lesson's point shows; no lesson
            takes much over two minutes on a laptop CPU, the whole tour about ten
    full    the budgets the models' docstrings and the README quote; up to about six minutes a
            lesson, twenty for the tour (`minigrad tour --full`; `--full` or MINIGRAD_FULL=1)

Settings come from the command line (`--fast`/`--full`, `--out DIR`, `--data DIR`) or the
environment (`MINIGRAD_FAST=1`/`MINIGRAD_FULL=1`, `MINIGRAD_OUT`, `MINIGRAD_DATA`), so the same
file runs as a script, as a notebook and inside the tour. A flag on the command line wins over
the environment.
"""
from __future__ import annotations

import json
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


def _markdown_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    cols = list(rows[0].keys())
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


class Lesson:
    def __init__(self, name: str, title: str, out_dir: str | os.PathLike | None = None):
        self.name = name
        self.title = title
        self.budget = budget_mode()
        self.data_dir = data_dir()
        out = out_dir or _argv_value("--out") or os.environ.get("MINIGRAD_OUT")
        self.out_dir = Path(out) if out else Path("out") / name
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.items: list[dict] = []
        self.metrics: dict[str, float | int | str] = {}
        self._t0 = time.perf_counter()

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
        """The value for this run's budget: `steps = lesson.pick(fast=40, quick=800, full=3000)`."""
        return {"fast": fast, "quick": quick, "full": full}[self.budget]

    def say(self, text: str) -> None:
        """Print a line and keep it for the report."""
        print(text)
        self.items.append({"kind": "text", "text": text})

    def metric(self, name: str, value) -> None:
        if hasattr(value, "item"):
            value = value.item()
        self.metrics[name] = value
        print(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}")

    def table(self, rows: list[dict], name: str, caption: str = "") -> str:
        md = _markdown_table(rows)
        print(("\n" + caption if caption else "") + "\n" + md + "\n")
        self.items.append({"kind": "table", "name": name, "caption": caption, "rows": rows, "markdown": md})
        return md

    def figure(self, fig, name: str, caption: str = "") -> Path:
        """Save a matplotlib figure as PNG (for the page) and SVG."""
        png = self.out_dir / f"{name}.png"
        fig.savefig(png, dpi=110, bbox_inches="tight")
        fig.savefig(self.out_dir / f"{name}.svg", bbox_inches="tight")
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)
        except ImportError:  # pragma: no cover
            pass
        self.items.append({"kind": "figure", "name": name, "caption": caption, "path": png.name})
        return png

    def graph(self, digraph, name: str, caption: str = "") -> Path:
        """Save a computation graph as SVG, or as DOT source when the `dot` program is missing."""
        from minigrad import viz

        path = viz.save(digraph, self.out_dir / name, format="svg", fallback_to_dot=True)
        self.items.append({"kind": "graph", "name": name, "caption": caption, "path": Path(path).name})
        return Path(path)

    def finish(self) -> dict:
        result = {
            "name": self.name,
            "title": self.title,
            "fast": self.fast,
            "budget": self.budget,
            "seconds": round(time.perf_counter() - self._t0, 2),
            "metrics": self.metrics,
            "items": self.items,
        }
        (self.out_dir / "result.json").write_text(json.dumps(result, indent=2, default=str))
        return result
