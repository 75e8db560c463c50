"""Everything issue 16 asks of a real GPU, as one run inside a time budget (for a short device lease).

    python3 benchmarks/gpu_session.py --out "$OUT" --data DIR          on the card (about 9 minutes)
    python benchmarks/gpu_session.py --device cpu --tiny --out /tmp/s  a dry run of every stage here

The stages run in order, each in its own process with its own time limit (cut to what the budget
has left), and a stage that fails or runs out of time does not stop the next:

1. kernels  the fused CUDA kernels against their references on the card
            (pytest tests/device/test_cuda_kernels.py --gpu-parity)
2. parity   every device test on cupy against numpy (pytest tests/device --gpu-parity)
3. bench    minigrad against PyTorch on the card (benchmarks/run.py --device cuda --quick): the GPT
            rows at nanoGPT's CPU- and GPU-recipe sizes (float32, and float16 autocast), the char
            LSTM, the 100-op chain and the AdamW step, with kernels per step and peak memory
4. train    nanoGPT's GPU recipe on tiny Shakespeare (minigrad train gpt --size gpu --device cuda)
            for as many of its 5000 iterations as the time left allows, on the recipe's own
            learning-rate schedule (--lr-decay-iters 5000), then its val loss

Everything lands in --out as four files (a device lease returns at most eight): session.log (every
stage's output), summary.md (what each stage gave, the benchmark table, the training result),
bench.json (every benchmark row) and train.json (the training run's config and results).
The corpus comes from --data DIR (tinyshakespeare.txt; or $MINIGRAD_DATA).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE_ITERS = 5000
TOKENS_PER_ITER = 64 * 256  # the GPU recipe's batch x block


def stage_commands(args, bench_dir: Path) -> dict:
    """name -> (argv, time limit in seconds); the budget cuts each limit to what is left."""
    py = sys.executable
    parity = [] if args.device == "cpu" else ["--gpu-parity"]  # on the CPU: the stand-in, a dry run
    pytest = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rfE"]
    bench = [py, "benchmarks/run.py", "gpt_train", "lstm_train", "op_overhead", "optim_step", "--device", args.device,
             "--out", str(bench_dir)]
    bench += ["--repeat", "1", "--clock", "cpu"] if args.tiny else ["--quick"]
    return {
        "kernels": (pytest + ["tests/device/test_cuda_kernels.py", *parity], 90),
        "parity": (pytest + ["tests/device", "--ignore=tests/device/test_cuda_kernels.py", "-n", str(args.workers),
                             *parity], 180),
        "bench": (bench, 200),
        "train": (None, None),  # built when it starts: its iterations depend on the time left
    }


def train_command(args, ckpt_dir: Path, seconds_left: float, tokens_per_s: float | None) -> tuple[list, int]:
    """The training command and its iteration count, sized to seconds_left at the measured speed."""
    py = sys.executable
    common = [py, "-m", "minigrad_tutorials.cli", "train", "gpt", "--size", "gpu", "--device", args.device, "--out",
              str(ckpt_dir), "--lr-decay-iters", str(RECIPE_ITERS), "--seed", "0"]
    if args.tiny:
        return common + ["--corpus", "builtin", "--iters", "2", "--batch-size", "2", "--eval-iters", "1",
                         "--sample-tokens", "0"], 2
    iters_per_s = (tokens_per_s or 100_000) / TOKENS_PER_ITER
    # two estimates of the loss over 100 batches of each split (forward only: about a third of a
    # step each), at the start and the end, and the start-up: the rest trains
    eval_seconds = 2 * 2 * 100 / (3 * iters_per_s) + 30
    iters = int(max(0.0, seconds_left - eval_seconds) * iters_per_s * 0.9)
    iters = max(1, min(RECIPE_ITERS, iters))
    return common + ["--corpus", "tinyshakespeare", "--iters", str(iters), "--eval-interval", str(RECIPE_ITERS),
                     "--eval-iters", "100", "--sample-tokens", "200"], iters


def gpu_recipe_tokens_per_s(bench_dir: Path, device: str) -> float | None:
    """minigrad's float32 GPU-recipe speed from the bench stage, if it got that far."""
    path = bench_dir / device / "gpt_train.json"
    if not path.exists():
        return None
    for row in json.loads(path.read_text())["results"]:
        if "GPU recipe" in row["case"] and "autocast" not in row["case"]:
            return row["minigrad"]
    return None


def run_stage(name, argv, limit, log, env) -> dict:
    """Run one stage with a time limit, its output appended to the log; what it gave."""
    log.write(f"\n===== {name}: {' '.join(argv)} (limit {limit:.0f} s)\n")
    log.flush()
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=limit)
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
    except subprocess.TimeoutExpired:
        status = f"stopped at its {limit:.0f} s limit"
    seconds = time.perf_counter() - start
    log.write(f"===== {name}: {status} after {seconds:.0f} s\n")
    log.flush()
    return {"stage": name, "status": status, "seconds": round(seconds, 1)}


def pytest_tally(log_text: str, name: str) -> str:
    """The last pytest summary line of a stage (e.g. '212 passed, 3 skipped in 80.1s')."""
    part = log_text.split(f"===== {name}:")[1] if f"===== {name}:" in log_text else ""
    lines = [ln.strip("= ") for ln in part.splitlines() if re.search(r"\d+ (passed|failed|error)", ln)]
    return lines[-1] if lines else "no summary"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where the four result files go ($OUT on a lease)")
    parser.add_argument("--budget", type=float, default=540, help="seconds for all stages together (default: 540)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: a dry run on the stand-in")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (with --device cpu: a dry run in minutes)")
    parser.add_argument("--data", type=Path, help="folder with tinyshakespeare.txt (default: $MINIGRAD_DATA)")
    parser.add_argument("--stages", default="kernels,parity,bench,train", help="which stages, in order")
    parser.add_argument("--workers", type=int, default=8, help="pytest-xdist workers for the parity stage")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    deadline = time.perf_counter() + args.budget
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="minigrad-gpu-session-"))
    bench_dir, ckpt_dir = work / "bench", work / "ckpt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "MINIGRAD_QUIET": "1", "MPLBACKEND": "Agg"}
    if args.data:
        env["MINIGRAD_DATA"] = str(args.data.resolve())
    commands = stage_commands(args, bench_dir)
    stages, trained_iters = [], None
    with open(args.out / "session.log", "w") as log:
        for name in args.stages.split(","):
            left = deadline - time.perf_counter() - 10
            if left < 20:
                stages.append({"stage": name, "status": "not run: out of time", "seconds": 0})
                continue
            argv, limit = commands[name]
            if name == "train":
                speed = gpu_recipe_tokens_per_s(bench_dir, args.device)
                argv, trained_iters = train_command(args, ckpt_dir, left, speed)
                limit = left
            stages.append(run_stage(name, argv, min(limit, left), log, env))
    log_text = (args.out / "session.log").read_text()
    write_results(args, stages, log_text, bench_dir, ckpt_dir, trained_iters)
    shutil.rmtree(work, ignore_errors=True)  # the checkpoint and the raw results: summarised in --out
    print((args.out / "summary.md").read_text())
    return 0 if all(s["status"] == "ok" for s in stages) else 1


def write_results(args, stages, log_text, bench_dir, ckpt_dir, trained_iters):
    """summary.md, bench.json and train.json in --out."""
    folder = bench_dir / args.device
    records = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.exists() else {}
    (args.out / "bench.json").write_text(json.dumps(records, indent=1) + "\n")
    table = (bench_dir / f"{args.device}.md").read_text() if (bench_dir / f"{args.device}.md").exists() else "(none)\n"
    config = json.loads((ckpt_dir / "config.json").read_text()) if (ckpt_dir / "config.json").exists() else {}
    (args.out / "train.json").write_text(json.dumps({"iters": trained_iters, **config}, indent=1) + "\n")
    lines = ["# GPU session (benchmarks/gpu_session.py)", "",
             "| stage | status | seconds | result |", "|---|---|---|---|"]
    for s in stages:
        result = pytest_tally(log_text, s["stage"]) if s["stage"] in ("kernels", "parity") else ""
        if s["stage"] == "train" and config:
            r = config.get("results", {})
            result = (f"{trained_iters} of {RECIPE_ITERS} iterations of the recipe: val loss {r.get('val_loss')}, "
                      f"train loss {r.get('train_loss')}, {r.get('seconds', 0) / 60:.1f} min, "
                      f"{r.get('tokens_per_s')} tokens/s")
        lines.append(f"| {s['stage']} | {s['status']} | {s['seconds']} | {result} |")
    lines += ["", "## Benchmarks", "", table]
    for name, rec in records.items():
        for row in rec["results"]:
            top = row.get("extra", {}).get("kernels", {}).get("minigrad_top")
            if top:
                lines += [f"minigrad's kernels by GPU time, {name}: {row['case']}", ""]
                lines += [f"- {t['share']:.1%}, {t['ms']} ms, {t['calls']} calls: `{t['kernel']}`" for t in top] + [""]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
