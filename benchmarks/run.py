"""Run the benchmarks: minigrad against PyTorch in one process, with the same thread count.

    python benchmarks/run.py [NAME ...] [--device cpu|cuda] [--threads 1] [--quick] [--profile]
    minigrad bench [NAME ...] [the same options]
    python benchmarks/gpt_train.py [the same options]        one benchmark alone

Each result is the median of paired speed ratios (PyTorch's time / minigrad's time for the same
work: above 1 means minigrad is faster) with their 25th-75th percentile; see common.py for how the
runs alternate. Results go to benchmarks/results/DEVICE/NAME.json, and DEVICE.md beside them is
rebuilt from all of those: the table the README copies.

This file imports only the standard library until it runs, so that `minigrad --help` stays cheap.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def available() -> dict[str, str]:
    """Every benchmark here (a file that defines `cases`), with the first line of its docstring."""
    found = {}
    for path in sorted(HERE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.FunctionDef) and node.name == "cases" for node in tree.body):
            found[path.stem] = (ast.get_docstring(tree) or "").strip().splitlines()[0]
    return found


def epilog() -> str:
    names = available()
    width = max(map(len, names), default=0)
    return "benchmarks:\n" + "\n".join(f"  {name:<{width}}  {line}" for name, line in names.items())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all, listed below)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="cpu, or cuda: minigrad on cupy and PyTorch on CUDA, timings synchronized (default: cpu)")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="threads for numpy's BLAS and for torch, the same for both (default: 1, the steadiest "
                             "on a shared machine)")
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                        help="wall: elapsed time (default); cpu: this process's CPU time, for one thread on a machine "
                             "shared with other jobs, where waiting for a core would otherwise count")
    parser.add_argument("--repeat", type=int, metavar="N", help="timed pairs per case (default: each case's own)")
    parser.add_argument("--quick", action="store_true", help="3 timed pairs per case: a rough look in a minute or two")
    parser.add_argument("--tf32", action="store_true",
                        help="with --device cuda: TF32 matmuls for both libraries (default: off for both)")
    parser.add_argument("--gpu-recipe-batch", type=int, metavar="B",
                        help="gpt_train: also run the nanoGPT GPU-recipe row (6x384, block 256) at batch B; it runs "
                             "at the recipe's batch 64 by default on cuda, and only when asked on a CPU (try 2)")
    parser.add_argument("--out", type=Path, default=RESULTS, metavar="DIR",
                        help="where the JSON and the Markdown table go (default: benchmarks/results)")
    parser.add_argument("--no-save", action="store_true", help="print the table only")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one minigrad run per case")
    parser.add_argument("--memory-of", nargs=2, metavar=("CASE", "LIB"), help=argparse.SUPPRESS)
    parser.add_argument("--opts-json", help=argparse.SUPPRESS)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0], epilog=epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def main(argv=None, prog: str | None = None) -> int:
    return run(build_parser(prog).parse_args(argv), prog or "benchmarks/run.py")


def run(args, prog: str = "benchmarks/run.py") -> int:
    sys.path.insert(0, str(HERE))  # the benchmarks import the harness, and run.py them, by name
    import common

    try:
        return _run(args, common)
    except common.HarnessError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2


def _run(args, common) -> int:
    names = args.names or list(available())
    unknown = [n for n in names if n not in available()]
    if unknown:
        raise common.HarnessError(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available())}")
    if args.memory_of:
        return _memory_child(args, common)
    if args.clock == "cpu" and (args.device != "cpu" or args.threads != 1):
        raise common.HarnessError("--clock cpu needs --device cpu and --threads 1: a GPU works while the CPU "
                                  "waits, and several threads add their CPU times up")
    device = common.Device(args.device, args.tf32)
    setup = {**device.info, **common.match_threads(args.threads), "python": platform.python_version(),
             "numpy": _version("numpy"), "torch": device.torch.__version__, "commit": _commit(),
             "clock": args.clock, "date": time.strftime("%Y-%m-%d")}
    print(_setup_line(setup), flush=True)
    repeat = args.repeat or (3 if args.quick else None)
    opts_json = _options_json(args)
    failed = []
    for name in names:
        try:
            results = _run_benchmark(name, args, common, device, repeat, opts_json)
        except common.HarnessError:
            raise
        except Exception as e:  # noqa: BLE001 - one broken benchmark should not hide the others
            print(f"{name} failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(name)
            continue
        if not args.no_save:
            folder = args.out / args.device
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.json").write_text(json.dumps(
                {"setup": setup, "results": [asdict(r) for r in results]}, indent=1) + "\n")
            write_markdown(folder)
    if not args.no_save:
        print(f"wrote {args.out / args.device}/ and {args.out / (args.device + '.md')}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _run_benchmark(name, args, common, device, repeat, opts_json) -> list:
    module = importlib.import_module(name)
    results = []
    for case in module.cases(args):
        result = common.measure(name, case, device, repeat, profile=args.profile, clock=args.clock)
        if case.memory and device.cupy is None:
            result.extra["peak_mib"] = common.cpu_peak_memory_mib(HERE / "run.py", name, case.name, opts_json)
        results.append(result)
        common.release_memory(device)
        print(_row(result), flush=True)
        if _top_kernels(result):
            print(_top_kernels(result), flush=True)
    common.add_peak_shares(results)
    return results


def _memory_child(args, common) -> int:
    """In a fresh process: one library's RSS rise over one run of one case (see cpu_peak_memory_mib)."""
    case_name, lib = args.memory_of
    opts = argparse.Namespace(**{**vars(args), **json.loads(args.opts_json)})
    opts.out = Path(opts.out)
    common.match_threads(opts.threads)
    module = importlib.import_module(args.names[0])
    case = next(c for c in module.cases(opts) if c.name == case_name)
    made = case.make()
    rise = common.rss_rise_mib(made[0] if lib == "minigrad" else made[1])
    print(json.dumps({"rss_rise_mib": rise}))
    return 0


def _version(module: str) -> str:
    return importlib.import_module(module).__version__


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


# -- the table ------------------------------------------------------------------------------------------
def _options_json(args) -> str:
    """The run's options for the record: the plain values only (`minigrad bench` adds its own
    function and the loaded runner to args, which have no JSON form)."""
    plain = (str, int, float, bool, type(None), list)
    return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if isinstance(v, (Path,) + plain)})


def _setup_line(s: dict) -> str:
    where = s.get("gpu") or s.get("cpu")
    line = (f"{s['device']} ({where}): numpy {s['numpy']} on {s['numpy_blas']}, {s['numpy_threads']} thread(s); "
            f"torch {s['torch']} on {s['torch_blas']}, {s['torch_threads']} thread(s)")
    line += f"; {s.get('clock', 'wall')}-clock time"
    return line + (f"; TF32 {s['tf32']}" if s["device"] == "cuda" else "")


def _figure(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"


def _notes(extra: dict) -> str:
    notes = []
    if "peak_mib" in extra:
        m = extra["peak_mib"]
        notes.append(f"peak memory {m['minigrad']:.0f} / {m['torch']:.0f} MiB ({m['minigrad'] / m['torch']:.2f}x)")
    if "minigrad_share_of_peak" in extra:
        notes.append(f"{100 * extra['minigrad_share_of_peak']:.0f}% / {100 * extra['torch_share_of_peak']:.0f}% "
                     "of the matmul peak")
    if "kernels" in extra:
        k = extra["kernels"]
        notes.append(f"kernels per {k['per']} {k['minigrad']:,.0f} / {k['torch']:,.0f}, GPU busy "
                     f"{k['minigrad_gpu_ms']:.3g} / {k['torch_gpu_ms']:.3g} ms")
    notes += [f"{k.replace('_', ' ')}: {v}" for k, v in extra.items() if isinstance(v, (bool, str))
              and k != "matmul_peak"]
    return "; ".join(notes)


def _top_kernels(r) -> str:
    """Where minigrad's GPU time went in one run (on a GPU): its costliest kernels."""
    top = r.extra.get("kernels", {}).get("minigrad_top")
    if not top:
        return ""
    return "\n".join(["  minigrad's kernels by GPU time (calls, ms, share):"] + [
        f"    {t['share']:6.1%} {t['ms']:9.3f} ms {t['calls']:6d}x  {t['kernel']}" for t in top])


def _row(r) -> str:
    return (f"{r.benchmark:<13} {r.case:<48} minigrad {_figure(r.minigrad, r.unit):>16}  torch "
            f"{_figure(r.torch, r.unit):>16}  speed {r.ratio:.2f}x [{r.ratio_q1:.2f}-{r.ratio_q3:.2f}] "
            f"({r.runs} pairs)  {_notes(r.extra)}")


def markdown(records: list[dict]) -> str:
    """The table of every benchmark's latest results; `records` are the JSON files' contents."""
    setups = sorted({_setup_line(rec["setup"]) for rec in records})
    dates = sorted({rec["setup"]["date"] for rec in records})
    lines = [
        "Speed ratio: PyTorch's time / minigrad's time for the same work (above 1: minigrad is faster), the "
        "median of paired alternating runs, with the 25th-75th percentile of the paired ratios in brackets. "
        "Figures after a slash: minigrad / PyTorch.",
        "",
        *[f"- {s}" for s in setups],
        f"- measured {dates[0]}" + (f" to {dates[-1]}" if len(dates) > 1 else "") + " (commit "
        + ", ".join(sorted({rec["setup"]["commit"] for rec in records})) + ")",
        "",
        "| benchmark | case | minigrad | PyTorch | speed ratio | pairs | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for rec in records:
        for r in rec["results"]:
            lines.append(f"| `{r['benchmark']}` | {r['case']} | {_figure(r['minigrad'], r['unit'])} | "
                         f"{_figure(r['torch'], r['unit'])} | **{r['ratio']:.2f}x** [{r['ratio_q1']:.2f}-"
                         f"{r['ratio_q3']:.2f}] | {r['runs']} | {_notes(r['extra'])} |")
    return "\n".join(lines) + "\n"


def write_markdown(folder: Path) -> Path:
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    path = folder.parent / f"{folder.name}.md"
    path.write_text(markdown(records))
    return path


if __name__ == "__main__":
    sys.exit(main())
