import os
from pathlib import Path

import numpy as np
import pytest

from minigrad.data import CharTokenizer

DATA = Path(os.environ.get("MINIGRAD_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))


def test_makemore_ids_with_boundary_special():
    # makemore: stoi = {s: i + 1 for i, s in enumerate(sorted(set(chars)))}; stoi['.'] = 0
    tok = CharTokenizer(["emma", "olivia", "ava", "zoe", "bxy", "cdfghjknpqrstuw"], specials=["."])
    assert tok.vocab_size == 27
    assert tok.stoi["."] == 0 and tok.stoi["a"] == 1 and tok.stoi["z"] == 26
    assert tok.encode("emma") == [5, 13, 13, 1]
    assert tok.decode([0, 5, 13, 13, 1, 0]) == ".emma."
    assert tok.itos[tok.stoi["q"]] == "q"


def test_built_from_one_string_sorted_by_code_point():
    tok = CharTokenizer("hello world")
    assert tok.itos == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.decode(tok.encode("hello world")) == "hello world"


@pytest.mark.skipif(not (DATA / "tinyshakespeare.txt").exists(), reason="tinyshakespeare.txt not found; set MINIGRAD_DATA")
def test_tinyshakespeare_has_65_characters_as_nanogpt_reports():
    text = (DATA / "tinyshakespeare.txt").read_text()
    tok = CharTokenizer(text)
    assert tok.vocab_size == 65
    assert "".join(tok.itos[:13]) == "\n !$&',-.3:;?"
    ids = tok.encode(text[:1000])
    assert tok.decode(ids) == text[:1000]


def test_unknown_character_error_names_it():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"'é'.*U\+00E9.*position 2"):
        tok.encode("abé")


def test_decode_rejects_out_of_range_and_negative_ids():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match="-1"):
        tok.decode([-1])
    with pytest.raises(TypeError):
        tok.decode([1.5])


def test_decode_accepts_numpy_arrays():
    tok = CharTokenizer("abc")
    assert tok.decode(np.array([2, 1, 0], dtype=np.int64)) == "cba"


def test_save_and_load_round_trip(tmp_path):
    tok = CharTokenizer(["zeta", "alpha"], specials=["<eos>"])
    tok.save(tmp_path / "char.json")
    loaded = CharTokenizer.load(tmp_path / "char.json")
    assert loaded.itos == tok.itos and loaded.specials == ["<eos>"]
    assert loaded.encode("tea") == tok.encode("tea")
    assert loaded.decode([0]) == "<eos>"


def test_load_rejects_other_tokenizer_files(tmp_path):
    (tmp_path / "x.json").write_text('{"type": "bpe", "merges": []}')
    with pytest.raises(ValueError, match="'bpe'.*expected 'char'"):
        CharTokenizer.load(tmp_path / "x.json")
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        CharTokenizer.load(tmp_path / "nothing.json")


def test_non_string_input_is_a_clear_error():
    with pytest.raises(TypeError, match="index 1"):
        CharTokenizer(["ab", 3])
