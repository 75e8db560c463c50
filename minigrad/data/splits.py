"""Train / dev / test splits, written the way the lectures write them, so numbers compare.

- `makemore_split(words)`: the makemore lectures' 80/10/10 split of names.txt
  (`random.seed(42); random.shuffle(words)`, cut at `int(0.8*n)` and `int(0.9*n)`).
  For the 32,033 names that gives 25,626 / 3,203 / 3,204 names.
- tiny Shakespeare is split by `minigrad.data.train_val_split(text, 0.9)` (corpora.py), nanoGPT's
  split: the first 90 % of the characters train, the last 10 % validate (1,003,854 / 111,540).
- `names_to_stream(words)`: names joined into one stream with '.' between them, the makemore
  bigram's view of the data.
"""
from __future__ import annotations

import random
from typing import Sequence

BOUNDARY = "."  # makemore's token for both "start of name" and "end of name" (id 0)


def makemore_split(words: Sequence[str], seed: int = 42) -> tuple[list[str], list[str], list[str]]:
    """Shuffle with Python's `random` seeded by `seed` and cut 80 % / 10 % / 10 %.

    The lecture seeds the global generator and shuffles its list in place; a private
    `random.Random(seed)` draws the same permutation (the module functions are methods of one such
    instance) without touching the caller's list or the global random state.
    """
    if isinstance(words, str):
        raise TypeError(
            "makemore_split: expected a list of names, got one str; "
            "use text.splitlines() to turn names.txt into a list"
        )
    shuffled = list(words)
    random.Random(seed).shuffle(shuffled)
    n1 = int(0.8 * len(shuffled))
    n2 = int(0.9 * len(shuffled))
    return shuffled[:n1], shuffled[n1:n2], shuffled[n2:]


def names_to_stream(words: Sequence[str], boundary: str = BOUNDARY) -> str:
    """'.emma.olivia.ava.': every name between boundary tokens, shared by neighbours.

    For a bigram model this stream holds exactly makemore's bigrams: each name contributes
    ('.', first letter) ... (last letter, '.'), and the '.' between two names is the end of one
    and the start of the next. Longer contexts must not reach across names; `NGramLM(n,
    boundary='.')` instead pads each name with n-1 '.' on the left, as makemore's context
    `[0] * block_size` does.
    """
    for w in words:
        if boundary in w:
            raise ValueError(
                f"names_to_stream: the name {w!r} contains the boundary token {boundary!r}; "
                "pick a boundary that no name uses"
            )
    return boundary + boundary.join(words) + boundary
