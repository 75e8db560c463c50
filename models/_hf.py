"""Reading a Hugging Face model folder (config.json + safetensors) without transformers, and nothing pickled.

A folder saved by `save_pretrained(..., safe_serialization=True)` holds `config.json` and
either `model.safetensors` or shards listed in `model.safetensors.index.json`. Older
checkpoints ship only `pytorch_model.bin`, a pickled file: loading one can run arbitrary code, so
it is refused with a message that says how to convert it.
"""
from __future__ import annotations

import json
from pathlib import Path

from minigrad import io

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def read_config(folder, who: str) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{who}: {str(folder)!r} is not a folder; pass the folder that holds config.json "
                                "and model.safetensors (what save_pretrained writes)")
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{who}: no config.json in {str(folder)!r}")
    return json.loads(path.read_text(encoding="utf-8"))


def read_weights(folder, who: str) -> dict:
    """{name: numpy array} from model.safetensors or its shards. Never unpickles."""
    folder = Path(folder)
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file():
        return io.load(single)
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        state = {}
        for shard in shards:
            state.update(io.load(folder / shard))
        return state
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ValueError(
            f"{who}: {str(folder)!r} holds only pickled weights ({', '.join(pickles)}). minigrad never unpickles "
            "(a pickled file can run arbitrary code when loaded). Convert it once, where you trust the file, with "
            "transformers: AutoModel.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)"
        )
    raise FileNotFoundError(f"{who}: no model.safetensors (or model.safetensors.index.json) in {str(folder)!r}")


def pick(config: dict, defaults: dict) -> dict:
    """The entries of a config.json that a config dataclass knows, with its defaults for the rest."""
    return {name: config.get(name, default) for name, default in defaults.items()}
