"""Small helpers shared by the tokenizers: id checks and JSON files."""
from __future__ import annotations

import json
from pathlib import Path


def as_id_list(ids, where: str, vocab_size: int) -> list[int]:
    """Turn ids (list, numpy array, minigrad Tensor, ...) into a list of checked Python ints.

    A negative or too-large id raises instead of wrapping around or decoding to garbage.
    """
    if hasattr(ids, "numpy") and callable(ids.numpy):  # a minigrad or torch Tensor
        ids = ids.numpy()
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int):
        ids = [ids]
    out = []
    for position, value in enumerate(ids):
        if isinstance(value, list):
            raise ValueError(f"{where}: expected a 1-D sequence of ids, got a nested sequence at position {position}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where}: ids must be integers, got {value!r} ({type(value).__name__}) at position {position}")
        if not 0 <= value < vocab_size:
            raise ValueError(
                f"{where}: id {value} at position {position} is out of range for a vocabulary of "
                f"{vocab_size} tokens (valid ids are 0..{vocab_size - 1})"
            )
        out.append(value)
    return out


def write_json(path, payload: dict) -> None:
    Path(path).write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")


def read_json(path, expected_type: str, where: str) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{where}: no tokenizer file at {str(path)!r}")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{where}: {str(path)!r} is not a valid tokenizer JSON file ({err})") from None
    if not isinstance(payload, dict) or payload.get("type") != expected_type:
        found = payload.get("type") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{where}: {str(path)!r} holds a tokenizer of type {found!r}, expected {expected_type!r}"
        )
    return payload
