"""The `minigrad` command: the tour of the lessons, and the tools around the models.

    minigrad tour [--fast | --full] [--lesson N] [--data DIR] [--out DIR]   every lesson, one report
    minigrad train KIND [--corpus C] [--size S] [--iters N] [--out DIR]   KIND: ngram rnn lstm gru gpt bert bart
    minigrad sample --checkpoint DIR [--prompt P] [--tokens N] [--temperature T] [--top-k K]
    minigrad graph {lookup,attention,mlp,gpt} | --checkpoint DIR [-o FILE]   a computation graph
    minigrad rlhf [--fast] [--out DIR]                                InstructGPT: SFT, reward model, PPO
    minigrad bench [NAME ...] [--device cpu|cuda] [--quick]           speed against PyTorch

`minigrad COMMAND --help` explains each. Errors in what was asked (a missing file, an unknown
name, a prompt the model cannot read) end with one line saying what to do, not a traceback.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

KINDS = ("ngram", "rnn", "lstm", "gru", "gpt", "bert", "bart")


class UsageError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit status 2."""


# -- tour ---------------------------------------------------------------------------------------------
BUDGET_NOTES = {  # what each budget is for, and what it costs (measured on a shared 2-core machine)
    "fast": "a smoke test, every lesson on tiny models in under a minute; the numbers mean little",
    "quick": "each model trains for a fixed share of about 10 minutes of wall clock, however busy the "
             "machine, and each lesson says whether its point showed; --full trains the fixed step counts "
             "the README quotes, --fast is a smoke test in under a minute",
    "full": "the fixed step counts the README quotes, about 22 minutes on 2 CPU cores",
}


def cmd_tour(args) -> int:
    from .tour import tour

    if args.data and not Path(args.data).is_dir():
        raise UsageError(f"tour: --data {args.data} is not a folder (it should hold names.txt / tinyshakespeare.txt)")
    budget = "fast" if args.fast else "full" if args.full else "quick"
    print(f"{budget} mode: {BUDGET_NOTES[budget]}", flush=True)
    try:
        report = tour(out=args.out, budget=budget, lessons=args.lesson, data=args.data, verbose=args.verbose,
                      threads=args.threads)
    except ValueError as e:
        raise UsageError(str(e) if str(e).startswith("tour") else f"tour: {e}") from None
    total = sum(r["seconds"] for r in report.results)
    n = len(report.results)
    print(f"\n{n} lesson{'s' if n != 1 else ''} in {total:.0f} s: "
          + ", ".join(f"{r['dir'][:2]} {r['seconds']:.0f} s" for r in report.results)
          + f" (CPU time {sum(r['cpu_seconds'] for r in report.results):.0f} s)")
    print(f"report: {report.index.resolve()}  (open it in a browser; {report.readme} has the same as Markdown)")
    if report.failed:
        names = ", ".join(r["dir"] for r in report.failed)
        print(f"{len(report.failed)} of {len(report.results)} lessons failed: {names}", file=sys.stderr)
        return 1
    return 0


# -- train and sample ---------------------------------------------------------------------------------
def cmd_train(args) -> int:
    from . import autothreads, recipes

    try:
        autothreads.apply(args.threads)
    except ValueError as e:
        raise UsageError(f"train {args.kind}: {e}") from None

    settings = recipes.TrainSettings(size=args.size, iters=args.iters, batch_size=args.batch_size, lr=args.lr,
                                 lr_decay_iters=args.lr_decay_iters, eval_interval=args.eval_interval,
                                 eval_iters=args.eval_iters, sample_tokens=args.sample_tokens, seed=args.seed,
                                 device=args.device, resume=args.resume)
    out = Path(args.out or f"checkpoints/{args.kind}-{args.size}")
    try:
        corpus = recipes.load_corpus(args.corpus, args.size)
        print(f"training {args.kind} ({recipes.WHAT[args.kind]}), size {args.size}, on {corpus.source} "
              f"({len(corpus.text):,} characters)", flush=True)
        trained = recipes.train(args.kind, corpus, settings)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        raise UsageError(f"train {args.kind}: {e}") from None
    recipes.save(trained, out)
    results = trained.config.get("results", {})
    shown = ", ".join(f"{k} {v}" for k, v in results.items())
    files = ", ".join(sorted(p.name for p in out.iterdir()))  # training_state.safetensors too where --resume works
    print(f"saved {out}/ ({files}); {shown}")
    print(f"next: minigrad sample --checkpoint {out}")
    return 0


def cmd_sample(args) -> int:
    from . import recipes

    try:
        trained = recipes.load(args.checkpoint, device=args.device)
        text = recipes.sample(trained, prompt=args.prompt, tokens=args.tokens, temperature=args.temperature,
                          top_k=args.top_k, seed=args.seed)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        raise UsageError(f"sample: {e}") from None
    if trained.kind in ("bert", "bart"):  # they fill in the prompt rather than continue it: show both
        print(f"prompt: {args.prompt or trained.config.get('sample_prompt')}")
    print(text)
    return 0


# -- graph --------------------------------------------------------------------------------------------
GRAPH_FORMATS = (".svg", ".png", ".pdf", ".dot")


def cmd_graph(args) -> int:
    from minigrad import viz

    from . import graphs

    if (args.example is None) == (args.checkpoint is None):
        raise UsageError("graph: name one example (lookup, attention, mlp, gpt) or give --checkpoint DIR: one of the two")
    try:
        if args.checkpoint:
            from . import recipes

            dot = recipes.loss_graph(recipes.load(args.checkpoint), max_nodes=args.max_nodes)
        else:
            makers = {"lookup": graphs.lookup, "attention": graphs.attention, "mlp": graphs.mlp,
                      "gpt": lambda: graphs.gpt(layers=args.layers)}
            dot = makers[args.example]()
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        raise UsageError(f"graph: {e}") from None
    name = args.example or f"{Path(args.checkpoint).resolve().name}_loss"
    out = args.output or f"{name}_graph"
    suffix = Path(out).suffix
    if suffix and suffix not in GRAPH_FORMATS:
        raise UsageError(f"graph: -o {out}: unknown format {suffix!r}; use one of {', '.join(GRAPH_FORMATS)}")
    stem, fmt = (out[: -len(suffix)], suffix[1:]) if suffix else (out, args.format)
    path = viz.save(dot, stem, format=fmt, fallback_to_dot=True)
    print(f"wrote {path}")
    return 0


# -- rlhf ---------------------------------------------------------------------------------------------
def cmd_rlhf(args) -> int:
    try:
        from minigrad_models.instructgpt import pipeline
    except ImportError as e:
        raise UsageError(f"rlhf: the InstructGPT pipeline (models/instructgpt/pipeline.py) is not available "
                         f"here ({e})") from None
    result = pipeline.run(out_dir=args.out, fast=args.fast, seed=args.seed, progress=not args.no_progress)
    result = result if isinstance(result, dict) else {}
    if result.get("markdown"):
        print(result["markdown"])
    paths = result.get("paths") or {}
    print(f"wrote {args.out}" + (": " + ", ".join(str(p) for p in paths.values()) if paths else ""))
    return 0


# -- bench --------------------------------------------------------------------------------------------
def _bench_runner():
    """benchmarks/run.py of this clone, loaded by path (benchmarks/ is a folder of scripts beside the
    package, not part of it), or None where it is absent (an install that is not a clone)."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("minigrad_benchmarks_run", path)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    return runner


def cmd_bench(args) -> int:
    if args.runner is None:
        raise UsageError("bench: the benchmarks/ folder is not here; run from a clone of the repository")
    return args.runner.run(args, prog="minigrad bench")


# -- the parser ---------------------------------------------------------------------------------------
THREADS_HELP = ("numpy's BLAS threads (default: chosen by a measured rule and printed, see tutorials/autothreads.py; "
                "also MINIGRAD_THREADS=N)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minigrad", description="minigrad: autograd from scratch, and the models built on it",
                                epilog="start with: minigrad tour (about 10 minutes; "
                                       "--fast: a smoke test, under a minute)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("tour", help="run every lesson and write a report (the main job)",
                       description="Run every lesson in order on the built-in data and write one report folder "
                                   "(index.html, README.md, tour.json, each lesson's figures, graphs and log).")
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--fast", action="store_true",
                        help="a smoke test (under a minute): tiny models, a few steps each; the numbers mean little")
    budget.add_argument("--full", action="store_true",
                        help="train every model for the fixed step counts the README quotes (about 22 minutes "
                             "on a 2-core CPU). Default: the quick budget, each model trained for a share of about "
                             "10 minutes of wall clock, however busy the machine")
    t.add_argument("--lesson", type=int, action="append", metavar="N", help="run only lesson N (repeatable)")
    t.add_argument("--data", metavar="DIR",
                   help="a folder with real corpora (names.txt, tinyshakespeare.txt); default: built-in data")
    t.add_argument("--out", default="minigrad-tour", metavar="DIR", help="report folder (default: ./minigrad-tour)")
    t.add_argument("--verbose", action="store_true", help="show what the lessons print (always kept in their log.txt)")
    t.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP)
    t.set_defaults(func=cmd_tour)

    from .recipes import WHAT

    kinds = "\n".join(f"  {k:<6} {WHAT[k]}" for k in KINDS)
    tr = sub.add_parser("train", help="train a model of the zoo and save a checkpoint",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Train a language model on a corpus, with a progress bar, the loss on held-out\n"
                                    "text every so often, and samples; save it as a checkpoint folder\n"
                                    "(config.json, model.safetensors, tokenizer.json; nothing pickled).",
                        epilog=f"kinds:\n{kinds}\n\nsizes: tiny (seconds on a CPU), small (minutes; gpt small is "
                               "nanoGPT's CPU recipe),\n       base (for a GPU: --device cuda), gpu (gpt: nanoGPT's GPU recipe, "
                               "config/train_shakespeare_char.py)\n\n"
                               "example:\n  minigrad train gpt --size tiny --out ckpt && minigrad sample "
                               "--checkpoint ckpt --prompt 'The '")
    tr.add_argument("kind", choices=KINDS, metavar="KIND", help="one of: " + ", ".join(KINDS) + " (see below)")
    tr.add_argument("--corpus", default="builtin", metavar="C",
                    help="'builtin' (generated English-like text; the default), 'builtin-names', a path to a text "
                         "file, or a name such as 'tinyshakespeare' / 'names' read from $MINIGRAD_DATA")
    tr.add_argument("--size", default="small", choices=["tiny", "small", "base", "gpu"],
                    help="model and run size (default: small)")
    tr.add_argument("--iters", "--max-iters", type=int, metavar="N", help="training steps (default: the size's)")
    tr.add_argument("--batch-size", type=int, metavar="B", help="sequences per step (default: the size's)")
    tr.add_argument("--lr", type=float, help="peak learning rate (default: the size's)")
    tr.add_argument("--lr-decay-iters", type=int, metavar="N",
                    help="length of the cosine decay (default: --iters); longer than --iters runs the first "
                         "--iters steps of a longer recipe")
    tr.add_argument("--eval-interval", type=int, metavar="N", help="evaluate every N steps (default: iters / 10)")
    tr.add_argument("--eval-iters", type=int, metavar="N", help="batches per loss estimate (default: the size's)")
    tr.add_argument("--sample-tokens", type=int, default=100, metavar="N",
                    help="length of the sample shown at each evaluation; 0 for none (default: 100)")
    tr.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train (default: cpu)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", metavar="DIR", help="checkpoint folder (default: checkpoints/KIND-SIZE)")
    tr.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR (model, optimizer, scheduler, "
                    "step, random state) up to --iters steps in all; same kind, size and corpus (rnn lstm gru gpt)")
    tr.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP)
    tr.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="generate text from a checkpoint",
                       description="Load a checkpoint folder written by `minigrad train` and print text: a "
                                   "continuation of the prompt (ngram, rnn, lstm, gru, gpt), the prompt's [MASK] "
                                   "or _ blanks filled in (bert), or the prompt's _ gaps reconstructed (bart).")
    s.add_argument("--checkpoint", required=True, metavar="DIR", help="a folder written by `minigrad train`")
    s.add_argument("--prompt", help="text to start from (default: the one the checkpoint suggests)")
    s.add_argument("--tokens", type=int, default=200, metavar="N", help="how many tokens to generate (default: 200)")
    s.add_argument("--temperature", type=float, metavar="T",
                   help="sampling temperature; 0 picks the most likely token (default: 1, greedy for bert/bart)")
    s.add_argument("--top-k", type=int, metavar="K", help="sample only among the K most likely tokens")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    s.set_defaults(func=cmd_sample)

    g = sub.add_parser("graph", help="draw a computation graph: a named example, or a trained model's loss",
                       description="Draw the computation graph of a small named example: lookup (hard vs soft "
                                   "lookups: where the gradient stops), attention (one head), mlp (a 2-layer MLP "
                                   "and its loss), gpt (a GPT's loss, its blocks in boxes); or, with --checkpoint, "
                                   "the training loss of a model saved by `minigrad train` on one short example.")
    g.add_argument("example", nargs="?", choices=["lookup", "attention", "mlp", "gpt"])
    g.add_argument("--checkpoint", metavar="DIR", help="draw this checkpoint's model instead of an example")
    g.add_argument("--max-nodes", type=int, default=150, help="with --checkpoint: draw at most this many nodes")
    g.add_argument("--layers", type=int, default=1, help="GPT layers (for the gpt example)")
    g.add_argument("-o", "--output", help="output file (.svg/.png/.pdf/.dot); default <example>_graph.svg")
    g.add_argument("--format", default="svg", choices=["svg", "png", "pdf", "dot"], help="when -o has no suffix")
    g.set_defaults(func=cmd_graph)

    r = sub.add_parser("rlhf", help="InstructGPT on a toy instruction world: SFT, reward model, PPO",
                       description="Run the InstructGPT pipeline (models/instructgpt): pre-train, supervised "
                                   "fine-tuning, a reward model from comparisons, PPO against it; write its report.")
    r.add_argument("--fast", action="store_true", help="a quick pass with small models and few steps")
    r.add_argument("--out", default="minigrad-rlhf", metavar="DIR", help="output folder (default: ./minigrad-rlhf)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_rlhf)

    runner = _bench_runner()
    b = sub.add_parser("bench", help="speed against PyTorch on this machine (needs the bench extra)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=runner and runner.epilog(),
                       description="Run the benchmarks in benchmarks/: minigrad and PyTorch side by side in one "
                                   "process with the same thread count, taking turns run by run; each row is the "
                                   "median of the paired speed ratios. Writes benchmarks/results/DEVICE.md, the "
                                   "table the README copies.")
    if runner:
        runner.add_arguments(b)
    b.set_defaults(func=cmd_bench, runner=runner)
    return p


def main(argv=None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except UsageError as e:
        print(f"minigrad {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
