"""Training and evaluating the LSTM seq2seq models of models/seq2seq.py on lesson 5's synthetic
translation task: length-bucketed batches, the loop (AdamW, clipping, a step or time budget) and
exact match / token accuracy by decoder."""
from __future__ import annotations

import time

import numpy as np

import minigrad as mg
from minigrad import optim
from minigrad.nn import functional as F
from minigrad.train import Budget
from minigrad_models.seq2seq import PAD_ID


# -- evaluation --------------------------------------------------------------------------------------
def evaluate(model, task, pairs, batch_size=200, decoder="greedy", beam_size=5):
    """Exact-match and token accuracy by source-length bucket (and "all").

    Token accuracy: the share of reference positions where the output has the same token at the
    same position (a too-short or too-long output loses the positions it misses or shifts)."""
    from minigrad.data.translation import length_bucket, length_buckets

    stats = {}
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        batch = next(task.batches(chunk, len(chunk)))
        if decoder == "greedy":
            hyps = model.greedy(batch.src, batch.src_lengths)
        else:
            hyps = model.beam_search(batch.src, batch.src_lengths, beam_size=beam_size)
        for (src, tgt), hyp in zip(chunk, hyps):
            ref = task.encode_tgt(tgt).tolist()
            same = sum(1 for a, b in zip(hyp, ref) if a == b)
            for key in (length_bucket(len(src)), "all"):
                s = stats.setdefault(key, [0, 0, 0, 0])
                s[0] += hyp == ref
                s[1] += 1
                s[2] += same
                s[3] += len(ref)
    rows = []
    for key in [k for k in length_buckets() if k in stats] + ["all"]:
        exact, n, same, ref_tokens = stats[key]
        rows.append({"source length": key, "sentences": n, "exact match": exact / n, "token accuracy": same / ref_tokens})
    return rows


@mg.no_grad()
def dataset_loss(model, task, pairs, batch_size=200):
    """Mean nats per target token (teacher forcing) over pairs."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in task.batches(pairs, batch_size):
        logits = model(batch.src, batch.src_lengths, batch.tgt_in)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                 mg.as_tensor(batch.tgt_out.reshape(-1), device=logits.device),
                                 ignore_index=PAD_ID, reduction="sum").item()
        count += int((batch.tgt_out != PAD_ID).sum())
    model.train(was_training)
    return total / count


# -- training ----------------------------------------------------------------------------------------
def bucketed_batches(task, pairs, batch_size, rng, pool=50):
    """Endless batches of similar source lengths (less padding): shuffle, cut into pools of
    pool * batch_size pairs, sort each pool by length, cut into batches, shuffle the batches."""
    while True:
        order = rng.permutation(len(pairs))
        for start in range(0, len(order), pool * batch_size):
            chunk = sorted((pairs[i] for i in order[start:start + pool * batch_size]), key=lambda p: len(p[0]))
            batches = list(task.batches(chunk, batch_size))
            for i in rng.permutation(len(batches)):
                yield batches[i]


def train(model, task, pairs, steps=None, seconds=None, batch_size=64, lr=2e-3, grad_clip=1.0, seed=0,
          log_every=0, log=print, desc="train"):
    """Adam with cosine decay to lr/10 over `steps` updates, or until `seconds` are up if that
    comes first (the decay then follows the share of the time spent); returns stats. A progress
    bar (minigrad.train.Budget, named `desc`) shows the step, the loss and the time left."""
    budget = Budget(steps, seconds, desc=desc)
    horizon = steps or 1000
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=horizon, eta_min=lr / 10)
    batches = bucketed_batches(task, pairs, batch_size, np.random.default_rng(seed))
    model.train()
    cpu0 = time.process_time()
    losses, sentences = [], 0
    while budget.running():
        batch = next(batches)
        loss = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        if grad_clip:
            optim.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        losses.append(loss.item())
        sentences += len(batch.src)
        budget.tick(losses[-1])
        budget.schedule(sched, horizon)   # epoch = the update count, or the share of the time spent
        if log_every and log and budget.step % log_every == 0:
            line = f"step {budget.step}: loss {np.mean(losses[-log_every:]):.4f} ({budget.elapsed:.0f} s)"
            budget.write(line) if log is print else log(line)   # above the bar, not through it
    budget.close()
    return {"steps": budget.step, "seconds": budget.elapsed, "cpu seconds": time.process_time() - cpu0,
            "sentences": sentences, "losses": losses}
