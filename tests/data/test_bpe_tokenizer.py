from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad.data import BPETokenizer, builtin_text
from minigrad.data.tokenizers.bpe import N_BYTES


def naive_bpe(chunks: list[str], n_merges: int):
    """Reference: recount every pair over the whole word table before each merge."""
    counts = Counter(chunks)
    words = {chunk: list(chunk.encode("utf-8")) for chunk in counts}
    merges = []
    for k in range(n_merges):
        pairs = Counter()
        for chunk, tokens in words.items():
            for pair in zip(tokens, tokens[1:]):
                pairs[pair] += counts[chunk]
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))  # most frequent, ties -> smallest pair
        merges.append(best)
        new_id = N_BYTES + k
        for chunk, tokens in words.items():
            out, i = [], 0
            while i < len(tokens):
                if i + 1 < len(tokens) and (tokens[i], tokens[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(tokens[i])
                    i += 1
            words[chunk] = out
    return merges, words


@pytest.fixture(scope="module")
def trained():
    text = builtin_text(30_000, seed=1) + " Ünïcödé ✓ 日本語 🙂🙂 naïve café\n"
    tok = BPETokenizer(special_tokens=["<|endoftext|>"]).train(text, vocab_size=400)
    return tok, text


def test_wikipedia_example_by_hand():
    # "aaabdaaabac": aa (4 overlapping) -> Z=256; then ab and Za tie at 2, smallest pair (a, b) -> Y=257;
    # then (Z, Y) -> X=258: "XdXac"
    tok = BPETokenizer(pattern=None).train("aaabdaaabac", vocab_size=259)
    assert list(tok.merges) == [(97, 97), (97, 98), (256, 257)]
    assert tok.encode("aaabdaaabac") == [258, ord("d"), 258, ord("a"), ord("c")]
    assert tok.vocab[258] == b"aaab"


def test_incremental_training_matches_naive_recount(trained):
    tok, text = trained
    merges, final_words = naive_bpe(tok._chunks(text), tok.vocab_size - N_BYTES - 1)
    assert list(tok.merges) == merges
    # encoding a chunk with the learned ranks reproduces the segmentation training reached
    for chunk, tokens in list(final_words.items())[:300]:
        assert tok.encode(chunk) == tokens


def test_training_compresses_its_text(trained):
    tok, text = trained
    ids = tok.encode(text)
    assert len(ids) < 0.6 * len(text.encode("utf-8"))
    assert tok.vocab_size == 400 and max(ids) < 399  # the special token is not in the text


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=200))
def test_decode_encode_round_trips_any_unicode(trained, s):
    tok, _ = trained
    assert tok.decode(tok.encode(s)) == s


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["a", " ", "<|endoftext|>", "é", "\n", "x1", "<|", "|>", "🙂"]), max_size=30))
def test_special_tokens_round_trip_and_get_their_id(trained, parts):
    tok, _ = trained
    s = "".join(parts)
    ids = tok.encode(s)
    assert tok.decode(ids) == s
    assert ids.count(tok.special_tokens["<|endoftext|>"]) == s.count("<|endoftext|>")


def test_special_token_ids_come_last():
    tok = BPETokenizer(special_tokens=["<|endoftext|>", "<pad>"]).train("ab ab ab ab", vocab_size=260)
    assert tok.special_tokens == {"<|endoftext|>": 258, "<pad>": 259}
    assert tok.encode("ab<pad>") == [tok.merges[(ord("a"), ord("b"))], 259]


def test_pre_split_keeps_merges_inside_words():
    tok = BPETokenizer()
    assert tok._chunks("Hello world's 2024 end!!  \n") == ["Hello", " world", "'s", " 2024", " end", "!!", "  \n"]
    # GPT-2's rule: of a run of spaces, the last one goes with the next word
    assert tok._chunks("a   b") == ["a", "  ", " b"]
    # "o w" never becomes a token because " w" starts a new chunk
    tok.train("o wo wo wo wo w", vocab_size=300)
    assert all(b"o w" not in piece for piece in tok.vocab.values())


def test_save_load_gives_identical_ids(trained, tmp_path):
    tok, text = trained
    tok.save(tmp_path / "bpe.json")
    loaded = BPETokenizer.load(tmp_path / "bpe.json")
    assert loaded.merges == tok.merges and loaded.special_tokens == tok.special_tokens
    sample = text[:2000] + "<|endoftext|>"
    assert loaded.encode(sample) == tok.encode(sample)


def test_bad_arguments_are_clear_errors(trained):
    tok, _ = trained
    with pytest.raises(ValueError, match="vocab_size=100"):
        BPETokenizer().train("abc", vocab_size=100)
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([tok.vocab_size])
    with pytest.raises(ValueError, match="-3"):
        tok.decode([-3])
    with pytest.raises(TypeError, match="str"):
        tok.encode(b"bytes")


def test_decoding_half_a_character_replaces_it():
    tok = BPETokenizer(pattern=None)
    ids = tok.encode("é")  # two bytes, no merges
    assert tok.decode(ids[:1]) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        tok.decode(ids[:1], errors="strict")
