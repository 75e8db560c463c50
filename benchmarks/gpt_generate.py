"""Generation speed of the nanoGPT CPU recipe's model: tokens per second with the key/value
cache (and without it), minigrad against the same model in PyTorch with the same weights.

Greedy decoding of `--new` tokens after a `--prompt`-token prompt, batch `--batch`; the
context stays within block_size (64), where the cache applies. Both libraries run one after
the other in one process with the same thread count; each figure is a median of `--repeat` runs.
The output checks that the two produce the same tokens; with one thread it also gives CPU-time
rates (time.process_time), steadier than wall time on a shared machine.

Run:  python benchmarks/gpt_generate.py [--new 48] [--prompt 16] [--batch 1] [--threads 1]
"""
from __future__ import annotations

import argparse

import numpy as np
from common import import_torch, median_time, set_threads
from gpt_train import cpu_time, torch_gpt

import minigrad as mg
from models.gpt import GPT, shakespeare_char_config


def torch_generate(torch, model, prompt, new, use_cache=True):
    """Greedy decoding with the torch mirror model (its own simple KV cache)."""
    idx = torch.from_numpy(prompt)
    with torch.no_grad():
        past = None
        fresh = idx
        for _ in range(new):
            if use_cache:
                logits, past = model(fresh, past=past)
            else:
                logits, _ = model(idx)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            idx = torch.cat([idx, nxt], 1)
            fresh = nxt
    return idx.numpy()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--new", type=int, default=48)
    p.add_argument("--prompt", type=int, default=16)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    config = shakespeare_char_config()
    if args.prompt + args.new > config.block_size:
        p.error(f"--prompt + --new must fit in block_size={config.block_size}")
    threads = set_threads(args.threads)
    mg.manual_seed(0)
    model = GPT(config).eval()
    prompt = np.random.default_rng(0).integers(0, config.vocab_size, (args.batch, args.prompt))
    n_tokens = args.batch * args.new
    result = {"threads": threads}
    ours = model.generate(prompt, args.new, temperature=0.0).numpy()
    for cache in (True, False):
        name = "cache" if cache else "no_cache"
        run = lambda: model.generate(prompt, args.new, temperature=0.0, use_cache=cache)  # noqa: E731
        result[f"minigrad_tokens_per_s_{name}"] = n_tokens / median_time(run, repeat=args.repeat, warmup=1)
        result[f"minigrad_tokens_per_cpu_s_{name}"] = n_tokens / cpu_time(run, args.repeat)
    torch = import_torch()
    if torch is not None:
        tmodel = torch_gpt(torch, config).eval()
        tmodel.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v.numpy()))
                                for k, v in model.state_dict().items()})
        result["same_tokens_as_torch"] = bool((torch_generate(torch, tmodel, prompt, args.new) == ours).all())
        for cache in (True, False):
            name = "cache" if cache else "no_cache"
            run = lambda: torch_generate(torch, tmodel, prompt, args.new, cache)  # noqa: E731
            result[f"torch_tokens_per_s_{name}"] = n_tokens / median_time(run, repeat=args.repeat, warmup=1)
            result[f"torch_tokens_per_cpu_s_{name}"] = n_tokens / cpu_time(run, args.repeat)
        for name in ("cache", "no_cache"):
            result[f"ratio_{name}"] = result[f"minigrad_tokens_per_s_{name}"] / result[f"torch_tokens_per_s_{name}"]
            result[f"cpu_time_ratio_{name}"] = (result[f"minigrad_tokens_per_cpu_s_{name}"]
                                                / result[f"torch_tokens_per_cpu_s_{name}"])
    print(f"greedy generation: batch {args.batch}, prompt {args.prompt}, {args.new} new tokens, "
          f"{model.get_num_params() / 1e6:.2f}M-parameter GPT")
    for k, v in result.items():
        print(f"{k:>30}: {v:.2f}" if isinstance(v, float) else f"{k:>30}: {v}")
    return result


if __name__ == "__main__":
    main()
