"""Training speed and memory of nanoGPT's CPU recipe (tiny Shakespeare, characters): minigrad
against the same model written in PyTorch.

The step is the recipe's: batch 12 x block 64 characters, a 4-layer, 4-head, 128-wide GPT
(no biases, dropout 0, exact GELU, tied head), AdamW on nanoGPT's parameter groups, gradient
clipping at 1.0. Both models start from the same weights and see the same batches, in one
process, with the same thread count (`--threads`, default 1: steadier on a shared machine).

Speed: the median over `--repeat` timed runs of `--steps` steps each, as tokens per second.
Memory: each library's peak during training, in a fresh subprocess, as the rise of the
resident set (RSS) above what it was before the first step, so both are measured the same
way; for minigrad also tracemalloc's peak (numpy reports its buffers to it).

Importing minigrad tunes glibc's malloc for the whole process (minigrad/allocator.py), so the
PyTorch model here runs with the same setting; `MINIGRAD_MALLOC=default` runs both with glibc's
defaults (measured: PyTorch's speed is within noise either way; minigrad's drops by a fifth).

Run:  python benchmarks/gpt_train.py [--steps 10] [--repeat 5] [--threads 1] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
from common import import_torch, median_time, set_threads

import minigrad as mg
from minigrad.optim import clip_grad_norm_
from models.gpt import GPT, shakespeare_char_config

B, T = 12, 64


def cpu_time(fn, repeat):
    """Median CPU seconds of fn (time.process_time): on a shared machine, time spent waiting for
    a core does not count, so this ratio is steadier than wall time (one thread only)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return sorted(times)[len(times) // 2]


def random_batches(config, n=8, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, config.vocab_size, (B, T)), rng.integers(0, config.vocab_size, (B, T)))
            for _ in range(n)]


# -- minigrad ---------------------------------------------------------------------------------
def minigrad_trainer(config, batches):
    mg.manual_seed(0)
    model = GPT(config)
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    params = list(model.parameters())
    data = [(mg.tensor(x), mg.tensor(y)) for x, y in batches]

    def train_steps(n):
        for i in range(n):
            x, y = data[i % len(data)]
            _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip_grad_norm_(params, 1.0)
            opt.step()
        return loss.item()

    return model, train_steps


# -- the same model in PyTorch ----------------------------------------------------------------
def torch_gpt(torch, config):
    """nanoGPT's model.py in brief, with minigrad's parameter names and a key/value cache."""
    tnn, F = torch.nn, torch.nn.functional
    C, H = config.n_embd, config.n_head
    approximate = "tanh" if config.activation == "gelu_tanh" else "none"

    class Attention(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = tnn.Linear(C, 3 * C, bias=config.bias)
            self.c_proj = tnn.Linear(C, C, bias=config.bias)

        def forward(self, x, past=None):
            b, t, _ = x.shape
            q, k, v = (z.view(b, t, H, C // H).transpose(1, 2) for z in self.c_attn(x).split(C, dim=2))
            if past is not None:
                k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=past is None and t > 1)
            return self.c_proj(y.transpose(1, 2).reshape(b, t, C)), (k, v)

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = tnn.LayerNorm(C, bias=config.bias)
            self.attn = Attention()
            self.ln_2 = tnn.LayerNorm(C, bias=config.bias)
            self.mlp = tnn.ModuleDict(dict(c_fc=tnn.Linear(C, 4 * C, bias=config.bias),
                                           c_proj=tnn.Linear(4 * C, C, bias=config.bias)))

        def forward(self, x, past=None):
            a, kv = self.attn(self.ln_1(x), past)
            x = x + a
            return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate=approximate)), kv

    class TorchGPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = tnn.ModuleDict(dict(
                wte=tnn.Embedding(config.vocab_size, C), wpe=tnn.Embedding(config.block_size, C),
                h=tnn.ModuleList([Block() for _ in range(config.n_layer)]), ln_f=tnn.LayerNorm(C, bias=config.bias)))
            self.lm_head = tnn.Linear(C, config.vocab_size, bias=False)
            self.transformer.wte.weight = self.lm_head.weight

        def forward(self, idx, targets=None, past=None):
            offset = past[0][0].shape[2] if past else 0
            pos = torch.arange(offset, offset + idx.shape[1])
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)
            present = []
            for i, block in enumerate(self.transformer.h):
                x, kv = block(x, past[i] if past else None)
                present.append(kv)
            x = self.transformer.ln_f(x)
            if targets is None:
                return self.lm_head(x[:, -1:]), present
            logits = self.lm_head(x)
            return logits, F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)

    return TorchGPT()


def torch_trainer(torch, config, batches, weights):
    model = torch_gpt(torch, config)
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()})
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]

    def train_steps(n):
        for i in range(n):
            x, y = data[i % len(data)]
            _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        return loss.item()

    return model, train_steps


# -- memory, in a fresh process -----------------------------------------------------------------
def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def measure_memory(which, threads, steps):
    """Runs in a subprocess: peak RSS rise over `steps` training steps, and tracemalloc's peak."""
    set_threads(threads)
    config = shakespeare_char_config()
    batches = random_batches(config)
    model, train = minigrad_trainer(config, batches)
    if which == "torch":
        torch = import_torch()
        weights = {k: v.numpy() for k, v in model.state_dict().items()}
        del model, train
        _, train = torch_trainer(torch, config, batches, weights)
    result = {}
    before = _rss_bytes()
    peak = [before]
    done = threading.Event()

    def sample():  # numpy and torch release the GIL in their kernels, so this thread gets to look
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    train(steps)
    done.set()
    sampler.join()
    result["rss_rise_mb"] = (max(peak[0], _rss_bytes()) - before) / 2**20
    if which == "minigrad":  # a second, exact view: numpy's own allocations during one more step
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        train(1)
        result["tracemalloc_peak_mb"] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
        tracemalloc.stop()
    print(json.dumps(result))


def memory_in_subprocess(which, threads, steps):
    out = subprocess.run([sys.executable, __file__, "--memory-only", which, "--threads", str(threads),
                          "--steps", str(steps)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the comparison ------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10, help="training steps per timed run")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per library (the median is kept)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--profile", action="store_true", help="cProfile minigrad's steps and print the top functions")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--activation", default="gelu", choices=["gelu", "gelu_tanh"],
                   help="the recipe's exact GELU, or GPT-2's tanh form (to see what erf costs)")
    p.add_argument("--memory-only", choices=["minigrad", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_only:
        return measure_memory(args.memory_only, args.threads, args.steps)

    threads = set_threads(args.threads)
    torch = import_torch()
    config = shakespeare_char_config(activation=args.activation)
    batches = random_batches(config)
    model, mg_train = minigrad_trainer(config, batches)
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    tokens = B * T * args.steps
    print(f"nanoGPT CPU recipe step: batch {B} x block {T}, {config.n_layer} layers, {config.n_head} heads, "
          f"{config.n_embd} wide, {model.get_num_params() / 1e6:.2f}M parameters, {config.activation}; {threads} thread(s)")
    result = {"threads": threads}
    mg_time = median_time(lambda: mg_train(args.steps), repeat=args.repeat, warmup=1)
    result["minigrad_tokens_per_s"] = tokens / mg_time
    if threads == 1:
        result["minigrad_tokens_per_cpu_s"] = tokens / cpu_time(lambda: mg_train(args.steps), args.repeat)
    if torch is not None:
        _, torch_train = torch_trainer(torch, config, batches, weights)
        torch_time = median_time(lambda: torch_train(args.steps), repeat=args.repeat, warmup=1)
        result["torch_tokens_per_s"] = tokens / torch_time
        result["speed_ratio"] = result["minigrad_tokens_per_s"] / result["torch_tokens_per_s"]
        if threads == 1:
            result["torch_tokens_per_cpu_s"] = tokens / cpu_time(lambda: torch_train(args.steps), args.repeat)
            result["cpu_time_speed_ratio"] = result["minigrad_tokens_per_cpu_s"] / result["torch_tokens_per_cpu_s"]
    if not args.no_memory:
        result["minigrad_memory"] = memory_in_subprocess("minigrad", threads, 3)
        if torch is not None:
            result["torch_memory"] = memory_in_subprocess("torch", threads, 3)
            result["memory_ratio"] = result["minigrad_memory"]["rss_rise_mb"] / max(
                result["torch_memory"]["rss_rise_mb"], 1e-9)
    for k, v in result.items():
        print(f"{k:>22}: {v:.3f}" if isinstance(v, float) else f"{k:>22}: {v}")
    print("goal: speed_ratio >= 0.8 and memory_ratio <= 1.5")
    if args.profile:  # CPU time, so that waiting for a shared core is not blamed on a function
        prof = cProfile.Profile(time.process_time)
        prof.enable()
        mg_train(args.steps)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return result


if __name__ == "__main__":
    main()
