"""The `minigrad` command: the tour of the lessons, and the tools around the models.

    minigrad tour [--fast] [--lesson N] [--data DIR] [--out DIR]
    minigrad graph {lookup,attention,mlp,gpt} [--layers N] [-o FILE]
    minigrad bench [NAME ...]
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys
from pathlib import Path


def cmd_tour(args):
    from .tour import tour

    if args.data and not Path(args.data).is_dir():
        raise SystemExit(f"tour: --data {args.data} is not a folder (it should hold names.txt / tinyshakespeare.txt)")
    index = tour(out=args.out, fast=args.fast, lessons=args.lesson, data=args.data)
    print(f"\nreport: {index.resolve()}  (open it in a browser; {index.parent / 'README.md'} has the same as Markdown)")


def cmd_graph(args):
    from . import viz
    from . import viz_examples

    makers = {"lookup": viz_examples.lookup, "attention": viz_examples.attention, "mlp": viz_examples.mlp,
              "gpt": lambda: viz_examples.gpt(layers=args.layers)}
    dot = makers[args.example]()
    out = args.output or f"{args.example}_graph"
    stem = out.rsplit(".", 1)[0] if out.endswith((".svg", ".png", ".pdf", ".dot")) else out
    fmt = out.rsplit(".", 1)[1] if out.endswith((".svg", ".png", ".pdf", ".dot")) else args.format
    path = viz.save(dot, stem, format=fmt, fallback_to_dot=True)
    print(f"wrote {path}")


def _benchmarks_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "benchmarks"
    if not here.is_dir():
        raise SystemExit("bench: the benchmarks/ folder is not here; run from a clone of the repository")
    return here


def cmd_bench(args):
    bench_dir = _benchmarks_dir()
    available = sorted(p.stem for p in bench_dir.glob("*.py") if p.stem not in ("common", "__init__"))
    names = args.names or available
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SystemExit(f"bench: unknown benchmark(s) {unknown}; available: {', '.join(available)}")
    sys.path.insert(0, str(bench_dir))
    for name in names:
        print(f"== {name}", flush=True)
        saved = sys.argv
        sys.argv = [name] + (["--quick"] if args.quick else [])
        try:
            runpy.run_path(str(bench_dir / f"{name}.py"), run_name="__main__")
        finally:
            sys.argv = saved


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minigrad", description="minigrad: autograd from scratch, and the models built on it")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tour", help="run every lesson and write a report (the main job)")
    t.add_argument("--fast", action="store_true", help="a quick pass (about a minute): small models, few steps")
    t.add_argument("--lesson", type=int, action="append", help="run only lesson N (repeatable)")
    t.add_argument("--data", help="a folder with real corpora (names.txt, tinyshakespeare.txt); default: built-in data")
    t.add_argument("--out", default="minigrad-tour", help="report folder (default: ./minigrad-tour)")
    t.set_defaults(func=cmd_tour)

    g = sub.add_parser("graph", help="draw a computation graph of a named example")
    g.add_argument("example", choices=["lookup", "attention", "mlp", "gpt"])
    g.add_argument("--layers", type=int, default=1, help="GPT layers (for the gpt example)")
    g.add_argument("-o", "--output", help="output file (.svg/.png/.pdf/.dot); default <example>_graph.svg")
    g.add_argument("--format", default="svg", choices=["svg", "png", "pdf", "dot"])
    g.set_defaults(func=cmd_graph)

    b = sub.add_parser("bench", help="speed against PyTorch on this machine (needs the parity extra)")
    b.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    b.add_argument("--quick", action="store_true", help="fewer repeats")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv=None):
    os.environ.setdefault("MPLBACKEND", "Agg")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    main()
