"""WordPiece on a tiny hand-written vocabulary, with answers worked out by hand from
BERT's rules. The comparison with Hugging Face on a real vocabulary is in
tests/parity/test_wordpiece_parity.py."""
import numpy as np
import pytest

from minigrad.data import WordPieceTokenizer
from minigrad.data.tokenizers.wordpiece import basic_tokenize, is_punctuation

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "hello", ",", "!", "world",
         "run", "##n", "##ing", "cafe", "中", "文", "$", "5", ".", "99", "a", "##a", "the", "is"]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
    return WordPieceTokenizer.from_vocab(path)


def ids(*tokens):
    return [VOCAB.index(t) for t in tokens]


def test_greedy_longest_match_first(tok):
    # BERT's README example: unaffable -> un ##aff ##able
    assert tok.tokenize("UnAffable") == ["un", "##aff", "##able"]
    # "running": "run" is the longest prefix in the vocabulary, then "##n", then "##ing"
    assert tok.tokenize("running") == ["run", "##n", "##ing"]


def test_unmatchable_word_is_one_unk(tok):
    # "unx": "un" matches but no piece starts "##x": the whole word becomes [UNK], not "un [UNK]"
    assert tok.tokenize("unx hello") == ["[UNK]", "hello"]


def test_words_over_100_characters_are_unk(tok):
    assert tok.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert tok.tokenize("a" * 101) == ["[UNK]"]


def test_cleaning_lowercasing_accents_and_punctuation(tok):
    # \x00 and the zero-width space (Cf) are dropped, tab/newline/no-break space split words,
    # É -> e after NFD and removal of the combining accent, '!' and ',' split off
    assert tok.tokenize("\tHEL\x00LO,\u200bWorld!\n\u00a0Café") == ["hello", ",", "world", "!", "cafe"]
    assert basic_tokenize("e\u0301 \u00e9") == ["e", "e"]


def test_cjk_ideographs_are_split_and_ascii_symbols_are_punctuation(tok):
    assert tok.tokenize("中文") == ["中", "文"]
    assert basic_tokenize("ab中cd") == ["ab", "中", "cd"]
    assert tok.tokenize("$5.99") == ["$", "5", ".", "99"]
    # '$' '^' '`' are symbols (Sc, Sk) in Unicode but punctuation to BERT; '¿' and '—' are P*
    assert [is_punctuation(c) for c in "$^`¿—a1 €"] == [True, True, True, True, True, False, False, False, False]


def test_special_tokens_written_in_text_stay_whole(tok):
    assert tok.tokenize("the [MASK] is,[SEP]a") == ["the", "[MASK]", "is", ",", "[SEP]", "a"]
    assert tok.tokenize("[mask]") == ["[UNK]", "[UNK]", "[UNK]"]  # case matters: '[', 'mask', ']'


def test_encode_adds_cls_and_sep_and_truncates(tok):
    assert tok.encode("Hello, world!") == ids("[CLS]", "hello", ",", "world", "!", "[SEP]")
    assert tok.encode("Hello, world!", add_special_tokens=False) == ids("hello", ",", "world", "!")
    assert tok.encode("Hello, world!", max_length=4) == ids("[CLS]", "hello", ",", "[SEP]")
    assert tok.encode("Hello, world!", max_length=4, truncation=False) == tok.encode("Hello, world!")


def test_pair_truncation_drops_from_the_longer_part(tok):
    # budget 7 - 3 specials = 4 tokens: (4, 2) -> (3, 2) -> (2, 2)
    got = tok.encode("hello , world !", "the cafe", max_length=7)
    assert got == ids("[CLS]", "hello", ",", "[SEP]", "the", "cafe", "[SEP]")


def test_batch_is_padded_int64_with_mask_and_types(tok):
    batch = tok(["hello world", "the cafe is a cafe"], ["a", "a a"])
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    for array in batch.values():
        assert array.dtype == np.int64 and array.shape == (2, 10)
    np.testing.assert_array_equal(batch["input_ids"][0], ids("[CLS]", "hello", "world", "[SEP]", "a", "[SEP]")
                                  + [0] * 4)
    np.testing.assert_array_equal(batch["attention_mask"][0], [1] * 6 + [0] * 4)
    np.testing.assert_array_equal(batch["token_type_ids"][0], [0, 0, 0, 0, 1, 1] + [0] * 4)
    # [CLS] the cafe is a cafe [SEP] | a a [SEP]
    np.testing.assert_array_equal(batch["token_type_ids"][1], [0] * 7 + [1] * 3)
    padded = tok.batch_encode(["hello"], padding="max_length", max_length=6)
    np.testing.assert_array_equal(padded["input_ids"], [ids("[CLS]", "hello", "[SEP]") + [0, 0, 0]])


def test_ragged_batch_without_padding_is_a_clear_error(tok):
    with pytest.raises(ValueError, match="padding"):
        tok.batch_encode(["hello", "hello world"], padding=False)


def test_decode_joins_pieces(tok):
    assert tok.decode(tok.encode("UnAffable running, hello!")) == "[CLS] unaffable running, hello! [SEP]"
    assert tok.decode(tok.encode("hello world"), skip_special_tokens=True) == "hello world"
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([len(VOCAB)])


def test_save_writes_the_same_vocab(tok, tmp_path):
    tok.save(tmp_path / "v.txt")
    assert (tmp_path / "v.txt").read_text(encoding="utf-8").split("\n")[:-1] == VOCAB


def test_missing_vocab_file_and_missing_special_token():
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        WordPieceTokenizer.from_vocab("nope.txt")
    with pytest.raises(ValueError, match="mask_token"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
