"""Training nanoGPT's character GPT on tiny Shakespeare's shapes, in tokens per second, with peak memory.

Two sizes: nanoGPT's CPU recipe (4 layers, 4 heads, 128 wide, block 64, batch 12) and its GPU
recipe (6 layers, 6 heads, 384 wide, block 256, batch 64; on a CPU only with --gpu-recipe-batch,
at a smaller batch). Both: no biases, exact GELU, tied head, AdamW on nanoGPT's parameter groups
(lr 1e-3, betas 0.9/0.99, weight decay 0.1), gradient clipping at 1.0, and dropout 0 (the GPU
recipe trains with 0.2; 0 keeps the two libraries' work identical). Both libraries start from
the same weights and see the same random batches.

On a GPU a last row trains the GPU recipe in mixed precision: float16 autocast with a gradient
scaler in both libraries (minigrad.amp, torch.amp), float32 master weights.

The first row times a large float32 matmul in each library: the matmul peak of this machine, as
each library reaches it. The GPT rows state what share of the faster of the two peaks each library
reaches over a whole training step, counting the step's FLOPs as nanoGPT's estimate_mfu does
(6 N + 12 L C T per token, N the parameters without the position table).

Importing minigrad tunes glibc's malloc for the whole process (minigrad/allocator.py), so the
PyTorch model here runs with the same setting; `MINIGRAD_MALLOC=default` runs both with glibc's
defaults.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import Case, import_torch

import minigrad as mg
from minigrad import amp
from minigrad.backend import xp_for
from minigrad.optim import clip_grad_norm_
from minigrad_models.gpt import GPT, shakespeare_char_config

RECIPES = {  # name: (model settings, batch, training steps per timed run)
    "CPU recipe": (dict(n_layer=4, n_head=4, n_embd=128, block_size=64), 12, 5),
    "GPU recipe": (dict(n_layer=6, n_head=6, n_embd=384, block_size=256), 64, 3),
}
MATMUL_SIZE = {"cpu": 1024, "cuda": 8192}  # big enough to reach the BLAS's peak, small enough to repeat


def random_batches(config, batch, n=4, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, config.block_size)
    return [(rng.integers(0, config.vocab_size, shape), rng.integers(0, config.vocab_size, shape)) for _ in range(n)]


def flops_per_token(model, config) -> float:
    """Training FLOPs per token, as nanoGPT's estimate_mfu counts them (forward and backward)."""
    return 6 * model.get_num_params() + 12 * config.n_layer * config.n_embd * config.block_size


# -- minigrad ---------------------------------------------------------------------------------
def minigrad_trainer(model, batches, steps, device, mixed=False):
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    params = list(model.parameters())
    data = [(mg.tensor(x, device=device), mg.tensor(y, device=device)) for x, y in batches]

    def train_steps():
        for i in range(steps):
            x, y = data[i % len(data)]
            _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip_grad_norm_(params, 1.0)
            opt.step()

    scaler = amp.GradScaler()

    def mixed_steps():
        for i in range(steps):
            x, y = data[i % len(data)]
            with amp.autocast("cuda"):
                _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            clip_grad_norm_(params, 1.0)
            scaler.step(opt)
            scaler.update()

    return mixed_steps if mixed else train_steps


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
            pos = torch.arange(offset, offset + idx.shape[1], device=idx.device)
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


def torch_trainer(config, weights, batches, steps, device, mixed=False):
    torch = import_torch()
    model = torch_gpt(torch, config)
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()})
    model.to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    data = [(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)) for x, y in batches]

    def train_steps():
        for i in range(steps):
            x, y = data[i % len(data)]
            _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

    scaler = torch.amp.GradScaler("cuda") if mixed else None

    def mixed_steps():
        for i in range(steps):
            x, y = data[i % len(data)]
            with torch.autocast("cuda", dtype=torch.float16):
                _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()

    return mixed_steps if mixed else train_steps


# -- the rows ------------------------------------------------------------------------------------
def matmul_case(device) -> Case:
    n = MATMUL_SIZE[device]
    reps = 10 if device == "cpu" else 20

    def make():
        torch = import_torch()
        rng = np.random.default_rng(0)
        a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        xp = xp_for(device)  # numpy, or cupy on a GPU
        ours = [xp.asarray(a), xp.asarray(b)]
        theirs = [torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)]

        def mine():
            for _ in range(reps):
                ours[0] @ ours[1]

        def ref():
            for _ in range(reps):
                theirs[0] @ theirs[1]

        return mine, ref

    flops = 2 * n**3 * reps
    return Case(f"float32 matmul {n}x{n}x{n}: the BLAS alone", make, work=flops / 1e9, unit="GFLOP/s",
                flops=flops, matmul_peak=True, repeat=7)


def gpt_case(recipe, device, batch=None, mixed=False) -> Case:
    settings, default_batch, steps = RECIPES[recipe]
    batch = batch or default_batch
    config = shakespeare_char_config(**settings)
    mg.manual_seed(0)
    tokens = batch * config.block_size * steps
    flops = flops_per_token(GPT(config), config) * tokens

    def make():
        batches = random_batches(config, batch)
        mg.manual_seed(0)
        model = GPT(config).to(device)
        weights = {k: v.numpy() for k, v in model.state_dict().items()}
        return (minigrad_trainer(model, batches, steps, device, mixed),
                torch_trainer(config, weights, batches, steps, device, mixed))

    name = (f"GPT, nanoGPT {recipe} ({config.n_layer}x{config.n_embd}, block {config.block_size}, "
            f"batch {batch}): train step" + (", float16 autocast + GradScaler" if mixed else ""))
    return Case(name, make, work=tokens, unit="tokens/s", flops=flops, memory=True,
                repeat=7 if recipe == "CPU recipe" else 5, steps=steps)


def cases(opts):
    rows = [matmul_case(opts.device), gpt_case("CPU recipe", opts.device)]
    if opts.device == "cuda" or opts.gpu_recipe_batch:
        rows.append(gpt_case("GPU recipe", opts.device, opts.gpu_recipe_batch))
    if opts.device == "cuda":  # on the CPU minigrad's autocast changes nothing (see minigrad/amp.py)
        rows.append(gpt_case("GPU recipe", opts.device, opts.gpu_recipe_batch, mixed=True))
    return rows


if __name__ == "__main__":
    import run

    sys.exit(run.main([Path(__file__).stem, *sys.argv[1:]]))
