"""GPT2Tokenizer reads vocab.json + merges.txt and gives the ids Hugging Face's GPT2Tokenizer
gives on the same files, for a varied text set (letters of many scripts, digits, punctuation,
code, runs of whitespace, emoji, combining marks, Unicode numbers, special tokens). The files are
written here by a small GPT-2-style BPE trainer (no download). Decoding gives the text back."""
import json
import re
import unicodedata
from collections import Counter

import pytest

from minigrad.data import GPT2Tokenizer, builtin_text
from minigrad.data.tokenizers import gpt2

TEXTS = [
    "Hello world! It's a test: we'll see, they've gone, I'm here, you're there, she'd know.",
    "Numbers: 2023, 3.14159, 1,000,000 and -42; phone +1 (555) 010-9999.",
    "Punctuation!!! ??? ... --- ((nested)) [brackets] {braces} <angle> @user #tag $5 %20 ^_^ ~tilde~",
    "def f(x):\n    return x**2  # square\n\n\tif x_1 != x2: pass\n",
    "Spaces   between    words\t\ttabs\n\n\nnewlines  \n  trailing   ",
    "naïve café résumé Ünïcödé straße ØRESUND",
    "日本語のテキストと中文文本，한국어 텍스트。",
    "Привет, мир! Γειά σου Κόσμε. שלום עולם. مرحبا بالعالم",
    "emoji 🙂👍🏽 family 👨\u200d👩\u200d👧 flags 🇫🇷",
    "combining e\u0301 and a\u0308 vs é ä",
    "superscripts x² + y³ = z½ and Roman Ⅻ, circled ① ⑳, fractions ¾",
    "hello<|endoftext|>world <|endoftext|> <|endoftext|><|endoftext|>again",
    "",
    "   ",
    "a",
    "'s 't 're 've 'm 'll 'd ' s",
    "under_score snake_case __dunder__ CamelCase",
    "\x1c\x1d\x1e\x1f control \x00 chars \x7f",
    " leading space",
]


def train_files(folder, texts, merges=400):
    """A GPT-2-style trainer: pre-tokenize, write bytes in GPT-2's alphabet, merge the most frequent pair."""
    alphabet = gpt2.bytes_to_unicode()
    words = Counter()
    for text in texts:
        for piece in gpt2._pattern().findall(text):
            words[tuple(alphabet[b] for b in piece.encode("utf-8"))] += 1
    vocab = list(alphabet.values())
    known, learned = set(vocab), []
    for _ in range(merges):
        pairs = Counter()
        for w, n in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += n
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        learned.append(best)
        if best[0] + best[1] not in known:
            known.add(best[0] + best[1])
            vocab.append(best[0] + best[1])
        merged = Counter()
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    vocab.append("<|endoftext|>")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(vocab)}, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in learned), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    corpus = [builtin_text(20000)] + TEXTS * 3
    return train_files(tmp_path_factory.mktemp("gpt2"), corpus)


def test_ids_match_transformers_gpt2_tokenizer(files):
    transformers = pytest.importorskip("transformers", reason="the reference is transformers' GPT2Tokenizer")
    theirs = transformers.GPT2Tokenizer.from_pretrained(str(files))
    ours = GPT2Tokenizer.from_pretrained(files)
    assert ours.vocab_size == len(theirs)
    for text in TEXTS + [builtin_text(3000)]:
        expected = theirs.encode(text, add_special_tokens=False)
        assert ours.encode(text) == expected, text
        assert ours.tokenize(text) == theirs.convert_ids_to_tokens(expected), text
        assert ours.decode(expected) == theirs.decode(expected, clean_up_tokenization_spaces=False), text
        assert ours.decode(expected, skip_special_tokens=True) == theirs.decode(
            expected, skip_special_tokens=True, clean_up_tokenization_spaces=False), text
    prefixed = transformers.GPT2Tokenizer.from_pretrained(str(files), add_prefix_space=True)
    assert GPT2Tokenizer.from_pretrained(files, add_prefix_space=True).encode("Hello world") == prefixed.encode(
        "Hello world", add_special_tokens=False)


def test_round_trip_and_special_tokens(files):
    tok = GPT2Tokenizer.from_pretrained(files)
    for text in TEXTS:
        assert tok.decode(tok.encode(text)) == text
    eos = tok.eos_token_id
    assert eos == tok.vocab_size - 1 and tok.encode("<|endoftext|>") == [eos]
    ids = tok.encode("a<|endoftext|>b")
    assert ids.count(eos) == 1 and tok.decode(ids, skip_special_tokens=True) == "ab"
    # merges did their work: frequent words are single symbols, and every symbol is in the vocab
    assert len(tok.encode(" the")) == 1 and len(tok.encode(" the")) < len(" the".encode())
    # a piece of a multi-byte character decodes to U+FFFD (errors="replace"), never raises
    one_byte_of_e_acute = tok.encode("é")[:1] if len(tok.encode("é")) > 1 else [tok.encoder["Ã"]]
    assert tok.decode(one_byte_of_e_acute) == "\ufffd"


def test_save_pretrained_round_trips_the_files(files, tmp_path):
    tok = GPT2Tokenizer.from_pretrained(files)
    tok.save_pretrained(tmp_path / "copy")
    again = GPT2Tokenizer.from_pretrained(tmp_path / "copy")
    assert again.encoder == tok.encoder and again.bpe_ranks == tok.bpe_ranks
    assert again.encode(TEXTS[0]) == tok.encode(TEXTS[0])


def test_bad_input_is_a_clear_error(files, tmp_path):
    tok = GPT2Tokenizer.from_pretrained(files)
    with pytest.raises(ValueError, match="out of range for a vocabulary"):
        tok.decode([-1])
    with pytest.raises(TypeError, match="expected a str"):
        tok.encode(b"bytes")
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no merges.txt"):
        GPT2Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"special tokens \['<pad>'\] are not in the vocabulary"):
        GPT2Tokenizer.from_pretrained(files, pad_token="<pad>")


def test_the_re_fallback_splits_exactly_like_the_regex_package():
    """Without the `regex` package the pattern is spelled for `re`; its letter, number and space
    classes equal \\p{L}, \\p{N} and \\s on every assigned code point, and it splits the texts alike."""
    regex = pytest.importorskip("regex", reason="compares with the regex package's \\p{L} and \\p{N}")
    fallback = re.compile(gpt2.exact_re_pattern())
    reference = regex.compile(gpt2.GPT2_PATTERN)
    assigned = "".join(chr(c) for c in range(0x110000)
                       if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) != "Cn")
    chunk = 50_000
    for start in range(0, len(assigned), chunk):  # every character between a letter, a digit and a space
        text = "".join(c + "a1 " for c in assigned[start:start + chunk])
        assert fallback.findall(text) == reference.findall(text)
    for text in TEXTS:
        assert fallback.findall(text) == reference.findall(text)
