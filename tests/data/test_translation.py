"""The synthetic translation task: its rules on hand-written sentences, its generator, its batches.

Expected targets are written out here from the documented rules (suffix tables typed by
hand, word order by hand); only the random dictionary (stems, genders) is read from the task.
"""
from collections import Counter

import numpy as np
import pytest

from minigrad.data.translation import TranslationTask, length_bucket, length_buckets

# the documented agreement tables, typed independently of the module
NOMINAL = {("m", "sg"): "o", ("f", "sg"): "a", ("m", "pl"): "i", ("f", "pl"): "e"}
VERBAL = {("m", "sg"): "on", ("f", "sg"): "an", ("m", "pl"): "in", ("f", "pl"): "en"}


@pytest.fixture(scope="module")
def task():
    return TranslationTask(seed=0)


def words(s):
    return s.split()


def nouns_of_gender(task, gender):
    return [n for n in task.nouns if task.genders[n] == gender]


def test_reordering_agreement_and_dictionary_in_one_clause(task):
    d, g = task.dictionary, task.genders
    src = words("the big old dog sees a red cat .")
    dog, cat = (g["dog"], "sg"), (g["cat"], "sg")
    expected = [
        f"{d['DEF']}-{NOMINAL[dog]}", d["dog"],                  # article agrees, noun first
        f"{d['old']}-{NOMINAL[dog]}", f"{d['big']}-{NOMINAL[dog]}",   # adjectives after, mirrored
        f"{d['INDEF']}-{NOMINAL[cat]}", d["cat"], f"{d['red']}-{NOMINAL[cat]}",
        d["ACC"],                                                 # object case particle
        f"{d['see']}-{VERBAL[dog]}",                              # verb last, agrees with subject
        ".",
    ]
    assert task.translate(src) == expected


def test_plural_numeral_and_adverb(task):
    d, g = task.dictionary, task.genders
    src = words("these three tall girls often carry some boxes .")
    girls, boxes = (g["girl"], "pl"), (g["box"], "pl")
    expected = [
        f"{d['PROX']}-{NOMINAL[girls]}", f"{d['girl']}-s", f"{d['tall']}-{NOMINAL[girls]}",
        d["three"],                                               # numeral after the adjectives
        f"{d['INDEF']}-{NOMINAL[boxes]}", f"{d['box']}-s", d["ACC"],
        d["often"], f"{d['carry']}-{VERBAL[girls]}", ".",         # adverb moves after the object
    ]
    assert task.translate(src) == expected


def test_verb_agrees_with_a_distant_subject_through_nested_relative_clauses(task):
    d = task.dictionary
    masc, fem = nouns_of_gender(task, "m"), nouns_of_gender(task, "f")
    for head, other in ((masc[0], fem[0]), (fem[0], masc[1])):
        x = (task.genders[head], "sg")
        y = (task.genders[other], "sg")
        src = words(f"the {head} who sees the {other} who helps a {other} happily runs .")
        expected = [
            f"{d['DEF']}-{NOMINAL[x]}", d[head],
            f"{d['REL']}-{NOMINAL[x]}",                       # relative pronoun agrees with head
            f"{d['DEF']}-{NOMINAL[y]}", d[other],
            f"{d['REL']}-{NOMINAL[y]}",
            f"{d['INDEF']}-{NOMINAL[y]}", d[other], d["ACC"],
            f"{d['help']}-{VERBAL[y]}", d["ACC"],             # inner verbs close inner clauses
            f"{d['see']}-{VERBAL[x]}",
            d["happily"], f"{d['run']}-{VERBAL[x]}",          # 12 tokens after its subject
            ".",
        ]
        tgt = task.translate(src)
        assert tgt == expected
        assert tgt.index(f"{d['run']}-{VERBAL[x]}") - tgt.index(d[head]) == 12
        assert task.genders[head] != task.genders[other]      # agreement is not copied locally


def test_nested_relative_clauses_put_their_verbs_in_reverse_order(task):
    d = task.dictionary
    src = words("the dog who sees the cat who chases the bird likes the cake .")
    stems = [t.split("-")[0] for t in task.translate(src)]
    verbs = [s for s in stems if s in (d["see"], d["chase"], d["like"])]
    assert verbs == [d["chase"], d["see"], d["like"]]   # source order: sees, chases, likes


def test_connectors_coordinate_in_place_and_subordinate_after_the_clause(task):
    d, g = task.dictionary, task.genders
    a = (g["dog"], "sg")
    b = (g["cat"], "sg")
    clause_a = [f"{d['DEF']}-{NOMINAL[a]}", d["dog"], f"{d['run']}-{VERBAL[a]}"]
    clause_b = [f"{d['DEF']}-{NOMINAL[b]}", d["cat"], f"{d['sleep']}-{VERBAL[b]}"]
    assert task.translate(words("the dog runs and the cat sleeps .")) == \
        clause_a + [d["and"]] + clause_b + ["."]
    assert task.translate(words("the dog runs because the cat sleeps .")) == \
        clause_a + clause_b + [d["because"], "."]


def test_dictionary_is_fixed_per_seed_and_differs_across_seeds():
    a, b, c = TranslationTask(seed=0), TranslationTask(seed=0), TranslationTask(seed=1)
    assert a.dictionary == b.dictionary and a.genders == b.genders
    assert a.tgt_vocab == b.tgt_vocab and a.src_vocab == c.src_vocab
    assert a.dictionary != c.dictionary
    stems = list(a.dictionary.values())
    assert len(set(stems)) == len(stems)              # one-to-one: no two lemmas share a stem
    assert set(a.genders.values()) == {"m", "f"}


def test_target_is_a_word_for_word_translation_not_a_copy(task):
    # the multiset of target stems is the dictionary image of the source lemmas, plus one
    # ACC per object; order and surface forms differ from the source
    for src, tgt in task.sample(200, rng=3):
        expected = Counter(task.dictionary[task.lemma_of(w)] for w in src if w != ".")
        got = Counter(t.split("-")[0] for t in tgt if t != ".")
        n_objects = got[task.dictionary["ACC"]]
        got[task.dictionary["ACC"]] -= n_objects
        assert +got == expected
        assert len(tgt) == len(src) + n_objects
        assert set(tgt).isdisjoint(set(src) - {"."})


def test_sampling_is_deterministic_for_a_seed():
    a = TranslationTask(seed=0).sample(30)
    assert a == TranslationTask(seed=0).sample(30)
    assert a != TranslationTask(seed=1).sample(30)
    assert TranslationTask(0).sample(30, rng=7) == TranslationTask(0).sample(30, rng=7)


def test_every_length_bucket_is_covered_and_sentences_parse(task):
    pairs = task.sample(700, rng=1)
    lengths = [len(src) for src, _ in pairs]
    assert min(lengths) >= 5 and max(lengths) <= 40
    counts = Counter(length_bucket(n) for n in lengths)
    assert set(counts) == set(length_buckets())
    assert min(counts.values()) >= 60                 # ~100 each if uniform
    assert Counter(lengths)[40] > 0 and Counter(lengths)[5] > 0
    for src, tgt in pairs:
        assert task.realize_source(task.parse(src)) == src
        assert tgt == task.translate(src)
    # long sentences need recursion: relative clauses and several clauses both occur
    long = [src for src, _ in pairs if len(src) >= 30]
    assert any(src.count("who") >= 2 for src in long)
    assert any(sum(w in ("and", "but", "or", "so", "because", "while", "although", "when")
                   for w in src) >= 2 for src in long)


def test_length_bucket_labels():
    assert length_buckets() == ["5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-40"]
    assert [length_bucket(n) for n in (5, 9, 10, 34, 35, 40)] == \
        ["5-9", "5-9", "10-14", "30-34", "35-40", "35-40"]
    with pytest.raises(ValueError, match="length_bucket"):
        length_bucket(41)


def test_splits_are_disjoint_and_deterministic(task):
    data = task.splits(300, 60, 60)
    assert {k: len(v) for k, v in data.items()} == {"train": 300, "valid": 60, "test": 60}
    sources = {k: {tuple(s) for s, _ in v} for k, v in data.items()}
    assert all(len(sources[k]) == len(data[k]) for k in data)      # no repeats inside a split
    assert sources["train"].isdisjoint(sources["valid"])
    assert sources["train"].isdisjoint(sources["test"])
    assert sources["valid"].isdisjoint(sources["test"])
    assert data == TranslationTask(seed=0).splits(300, 60, 60)


def test_splits_stay_disjoint_when_a_tiny_language_repeats_itself():
    tiny = TranslationTask(seed=0, lexicon_fraction=0.05)
    raw = tiny.sample(400, min_len=5, max_len=5, rng=0)
    assert len({tuple(s) for s, _ in raw}) < 300            # the raw stream repeats often
    data = tiny.splits(200, 50, 50, min_len=5, max_len=5)
    sources = [tuple(s) for split in data.values() for s, _ in split]
    assert len(sources) == 300 and len(set(sources)) == 300
    with pytest.raises(ValueError, match="splits: found only"):
        tiny.splits(100000, 10, 10, min_len=5, max_len=5)


def test_vocab_specials_and_encode_decode(task):
    for vocab in (task.src_vocab, task.tgt_vocab):
        assert vocab[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
        assert len(vocab) == len(set(vocab))
    assert 300 <= len(task.src_vocab) <= 500
    src, tgt = task.sample(1, rng=0)[0]
    ids = task.encode_tgt(tgt)
    assert ids.dtype == np.int64 and ids.min() >= 4
    assert task.decode_tgt(np.concatenate([[1], ids, [2, 0, 0]])) == tgt
    assert task.decode_src(task.encode_src(src)) == src
    with pytest.raises(ValueError, match="encode_src.*'zebra'.*allow_unk"):
        task.encode_src(["the", "zebra"])
    assert task.encode_src(["the", "zebra"], allow_unk=True)[1] == 3
    with pytest.raises(ValueError, match="decode_tgt.*-1"):
        task.decode_tgt([5, -1])


def test_ungrammatical_source_is_rejected_with_its_position(task):
    with pytest.raises(ValueError, match="does not agree"):
        task.translate(words("the dogs sees the cat ."))
    with pytest.raises(ValueError, match="determiner 'a'"):
        task.translate(words("a dogs run ."))
    with pytest.raises(ValueError, match="expected det"):
        task.translate(words("dog runs ."))
    with pytest.raises(ValueError, match="unknown source token 'zebra'"):
        task.translate(words("the zebra runs ."))


def test_batches_pad_shift_and_reverse(task):
    pairs = task.sample(10, rng=2)
    batches = list(task.batches(pairs, 4))
    assert [len(b.src) for b in batches] == [4, 4, 2]
    b = batches[0]
    for arr in b:
        assert arr.dtype == np.int64
    for row in range(4):
        src, tgt = pairs[row]
        n = len(src)
        assert b.src_lengths[row] == n
        assert task.decode_src(b.src[row, :n]) == src and (b.src[row, n:] == 0).all()
        t = task.encode_tgt(tgt)
        assert b.tgt_in[row, 0] == 1 and (b.tgt_in[row, 1:len(t) + 1] == t).all()
        assert (b.tgt_out[row, :len(t)] == t).all() and b.tgt_out[row, len(t)] == 2
        assert (b.tgt_out[row, len(t) + 1:] == 0).all()
    # tgt_in is tgt_out shifted right by one
    assert (b.tgt_in[:, 1:] == np.where(b.tgt_out[:, :-1] == 2, 0, b.tgt_out[:, :-1])).all()
    rev = next(task.batches(pairs, 4, reverse_source=True))
    for row in range(4):
        n = b.src_lengths[row]
        assert (rev.src[row, :n] == b.src[row, :n][::-1]).all()
    shuffled = [b.src_lengths for b in task.batches(pairs, 10, rng=np.random.default_rng(0))]
    assert sorted(shuffled[0]) == sorted(len(s) for s, _ in pairs)
    assert len(list(task.batches(pairs, 4, drop_last=True))) == 2
