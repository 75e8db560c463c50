"""Generating with the nanoGPT CPU recipe's model, with and without the KV cache, in tokens per second.

Greedy decoding of 48 new tokens after a 16-token prompt, batch 1, within block_size (64) where
the cache applies; both libraries hold the same weights, and each row says whether they chose
the same tokens. PyTorch's side is the mirror model of gpt_train.py with its own simple cache.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import Case, import_torch
from gpt_train import torch_gpt

import minigrad as mg
from minigrad_models.gpt import GPT, shakespeare_char_config

PROMPT, NEW, BATCH = 16, 48, 1


def torch_generate(torch, model, prompt, new, use_cache):
    """Greedy decoding with the torch mirror model."""
    idx = prompt
    with torch.no_grad():
        past, fresh = None, idx
        for _ in range(new):
            logits, present = model(fresh if use_cache else idx, past=past)
            past = present if use_cache else None
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            idx = torch.cat([idx, nxt], 1)
            fresh = nxt
    return idx


def cases(opts):
    def make(use_cache):
        def build():
            torch = import_torch()
            config = shakespeare_char_config()
            mg.manual_seed(0)
            model = GPT(config).to(opts.device).eval()
            ref = torch_gpt(torch, config).eval()
            ref.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v.numpy()))
                                 for k, v in model.state_dict().items()})
            ref.to(opts.device)
            prompt = np.random.default_rng(0).integers(0, config.vocab_size, (BATCH, PROMPT))
            theirs = torch.from_numpy(prompt).to(opts.device)

            def mine():
                return model.generate(prompt, NEW, temperature=0.0, use_cache=use_cache)

            def reference():
                return torch_generate(torch, ref, theirs, NEW, use_cache)

            same = bool((mine().numpy() == reference().cpu().numpy()).all())
            return mine, reference, {"same_tokens_as_torch": same}
        return build

    return [Case(f"greedy generation, batch {BATCH}, {PROMPT}+{NEW} tokens, {name}", make(cache), work=BATCH * NEW,
                 unit="tokens/s", repeat=7, steps=NEW, per="token") for name, cache in (("KV cache", True), ("no cache", False))]


if __name__ == "__main__":
    import run

    sys.exit(run.main([Path(__file__).stem, *sys.argv[1:]]))
