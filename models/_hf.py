"""Reading a Hugging Face model folder (config.json + safetensors) without transformers, and nothing pickled;
and the padding bias that transformers-style models (BERT, BART) share.

A folder saved by `save_pretrained(..., safe_serialization=True)` holds `config.json` and
either `model.safetensors` or shards listed in `model.safetensors.index.json`. Older
checkpoints ship only `pytorch_model.bin`, a pickled file: loading one can run arbitrary code, so
it is refused with a message that says how to convert it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import io
from minigrad.nn import functional as F
from minigrad.nn.inputs import mask_to_bias

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")

# config.json's activation names -> functions: "gelu" is the exact erf form, the *_new / tanh
# names GPT-2's tanh approximation (transformers' ACT2FN, for the names these models use)
ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "tanh": F.tanh,
}


def activation(name: str, who: str):
    """The function for a config's activation name; `who` names the field in the error."""
    if name not in ACTIVATIONS:
        raise ValueError(f"{who}={name!r} is not supported; use one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


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


def padding_bias(attention_mask: mg.Tensor, dtype=np.float32):
    """A (B, S) attention_mask (1 = token, 0 = padding) -> an additive (B, 1, 1, S) bias on the mask's
    device (nn.inputs.mask_to_bias), or None for a host mask without padding (nothing to add); a mask
    on a GPU always gets its bias, since asking whether it has padding would make the host wait."""
    if attention_mask.device == "cpu" and attention_mask.data.astype(bool).all():
        return None
    return mask_to_bias(attention_mask, dtype)[:, None, None, :]
