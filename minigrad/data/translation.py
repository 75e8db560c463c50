"""A synthetic translation task, generated offline from a seed, for seq2seq experiments.

Why synthetic: lesson 5 has to show two effects on a laptop in minutes, Sutskever et al.
(2014)'s source reversal and Bahdanau et al. (2015)'s attention, and both show up as
accuracy against sentence length. A rule-made language gives unlimited clean pairs, every
length from 5 to 40 in equal measure, and a reference translator that is always right.

The source language ("English-like", SVO)::

    sentence  = clause (connector clause)* "."
    clause    = NP VP
    NP        = det [numeral] adj* noun ["who" VP]    # one relative clause, at the end
    VP        = [adverb] verb [NP]                   # NP iff the verb is transitive
    connector = and | but | or | so                  # coordinating
              | because | while | although | when    # subordinating

with English agreement (``the dog sees`` / ``the dogs see``, ``a dog`` / ``some dogs``,
a numeral takes a plural noun). The parse is deterministic: a relative clause belongs to
the noun right before ``who``, an adverb to the verb right after it.

The target language differs in four ways, so that a token depends on a far-away one:

* reordering: verb last in its clause (SOV), object NPs end with the case particle
  (``ACC``), adjectives after the noun in mirror order, numeral after the adjectives,
  a subordinating connector after its clause (``A because B`` -> ``A' B' because'``);
* agreement: every noun has a hidden gender (``m``/``f``) drawn from the seed. Articles,
  adjectives and the relative pronoun agree with their noun in gender and number, and a
  verb agrees with its subject, which may be 30 tokens earlier, beyond nested relative
  clauses;
* nesting: ``the dog who sees the cat who chases the bird runs`` becomes
  ``DEF-o dog' REL-o DEF-a cat' REL-a DEF-o bird' ACC chase-an ACC see-on run-on``
  (when the seed makes dog m, cat f, bird m; ' marks a dictionary stem):
  the verbs come out in the reverse of their source order;
* lexicon: every source lemma maps to a random target stem (a fixed dictionary per seed).

Target word forms are ``stem-suffix`` so that a learner can read the agreement:
articles, adjectives and the relative pronoun take ``-o -a -i -e`` (m sg, f sg, m pl, f pl),
verbs ``-on -an -in -en``, a plural noun ``-s``; numerals, adverbs and connectors do not
inflect. The target is as long as the source plus one ``ACC`` per object.

    task = TranslationTask(seed=0)
    data = task.splits(20000, 1000, 1000)            # {"train": [(src, tgt), ...], ...}
    for batch in task.batches(data["train"], 64, rng=np.random.default_rng(0)):
        batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out     # int64 arrays
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, NamedTuple, Sequence

import numpy as np

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3

# ---------------------------------------------------------------- the source lexicon
NOUNS = """dog cat bird horse cow pig goat fox bear lion tiger rabbit duck frog snake king
queen girl boy farmer teacher doctor student baker painter singer sailor soldier friend
neighbor guest pilot driver lawyer poet judge nurse apple book letter song house car boat
tree flower stone river garden table chair window door key box glass bottle cup hat coat
shoe ship train bridge road city village castle tower cake egg orange lemon picture ball
pen map ring bell lamp candle clock basket""".split()
ADJECTIVES = """big small old young red blue green black white yellow happy sad quick slow
tall short new strange quiet loud brave clever lazy angry kind proud rich poor famous
hungry tired gentle wild heavy bright dark warm cold dirty beautiful ugly friendly calm
busy funny shy""".split()
TRANSITIVE_VERBS = """see like love hate follow help find watch know visit paint call greet
push pull carry chase catch teach wash meet hear remember forget bring want need build buy
sell hold open close read write draw kick hide feed thank""".split()
INTRANSITIVE_VERBS = """run sleep sing dance laugh cry smile jump swim walk fall wait shout
arrive sit stand rest work play leave""".split()
ADVERBS = """quickly slowly often never always rarely quietly loudly happily sadly gladly
suddenly finally soon""".split()
NUMERALS = "two three four five six seven eight nine ten".split()
COORDINATORS = ("and", "but", "or", "so")
SUBORDINATORS = ("because", "while", "although", "when")
RELATIVE = "who"
PERIOD = "."

# determiner -> (target lemma, numbers it allows); "a" and "some" share a target article
DETERMINERS = {
    "the": ("DEF", ("sg", "pl")), "a": ("INDEF", ("sg",)), "some": ("INDEF", ("pl",)),
    "this": ("PROX", ("sg",)), "these": ("PROX", ("pl",)),
    "that": ("DIST", ("sg",)), "those": ("DIST", ("pl",)), "every": ("EVERY", ("sg",)),
}
DETERMINERS_WITH_NUMERAL = ("the", "these", "those")
ARTICLE_LEMMAS = ("DEF", "INDEF", "PROX", "DIST", "EVERY")

# agreement suffixes, keyed by (gender, number)
NOMINAL_SUFFIX = {("m", "sg"): "o", ("f", "sg"): "a", ("m", "pl"): "i", ("f", "pl"): "e"}
VERB_SUFFIX = {("m", "sg"): "on", ("f", "sg"): "an", ("m", "pl"): "in", ("f", "pl"): "en"}
PLURAL_NOUN_SUFFIX = "s"

MAX_ADJECTIVES = 2          # per noun phrase
MAX_RELATIVE_DEPTH = 4      # relative clauses inside relative clauses


def _add_s(word: str) -> str:
    """English plural / third person singular: dog->dogs, box->boxes, city->cities."""
    if word.endswith(("s", "sh", "ch", "x", "z")):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def length_bucket(n: int, width: int = 5, lo: int = 5, hi: int = 40) -> str:
    """Label of the source-length bucket of `n`: '5-9', '10-14', ..., '35-40'.

    The last bucket absorbs the remainder up to `hi` (so 40 joins 35-39), as in the lesson's tables.
    Use `length_buckets()` for the labels in order."""
    if not lo <= n <= hi:
        raise ValueError(f"length_bucket: length {n} is outside [{lo}, {hi}]; "
                         f"pass lo=/hi= to cover it")
    n_buckets = max(1, (hi - lo + 1) // width)
    index = min((n - lo) // width, n_buckets - 1)
    start = lo + index * width
    end = hi if index == n_buckets - 1 else start + width - 1
    return f"{start}-{end}"


def length_buckets(width: int = 5, lo: int = 5, hi: int = 40) -> list[str]:
    """All bucket labels from `length_bucket`, shortest first."""
    labels: list[str] = []
    for n in range(lo, hi + 1):
        label = length_bucket(n, width, lo, hi)
        if label not in labels:
            labels.append(label)
    return labels


# ---------------------------------------------------------------- parse trees
@dataclass
class NounPhrase:
    noun: str                              # lemma
    plural: bool = False
    det: str | None = None                 # source determiner; None until realised
    numeral: str | None = None
    adjectives: list[str] = field(default_factory=list)
    relative: "VerbPhrase | None" = None   # "who VP", its subject is this noun


@dataclass
class VerbPhrase:
    verb: str                              # lemma
    obj: NounPhrase | None = None
    adverb: str | None = None


@dataclass
class Clause:
    subject: NounPhrase
    vp: VerbPhrase


@dataclass
class Sentence:
    clauses: list[Clause]
    connectors: list[str]                  # connectors[i] joins clauses[i] and clauses[i+1]


def _np_length(np_: NounPhrase) -> int:
    rel = 1 + _vp_length(np_.relative) if np_.relative else 0
    return 2 + (np_.numeral is not None) + len(np_.adjectives) + rel


def _vp_length(vp: VerbPhrase) -> int:
    return 1 + (vp.adverb is not None) + (_np_length(vp.obj) if vp.obj else 0)


def _sentence_length(s: Sentence) -> int:
    return sum(_np_length(c.subject) + _vp_length(c.vp) for c in s.clauses) + len(s.connectors) + 1


class Batch(NamedTuple):
    """One padded batch. `tgt_in` starts with <bos>, `tgt_out` ends with <eos>; both are
    padded with <pad>=0 (use it as the loss's ignore_index)."""
    src: np.ndarray          # (B, S) int64
    src_lengths: np.ndarray  # (B,)   int64
    tgt_in: np.ndarray       # (B, T) int64
    tgt_out: np.ndarray      # (B, T) int64


class TranslationTask:
    """The source and target languages, a reference translator, and a seeded generator.

    `seed` fixes the dictionary (target stems, noun genders) and the default sampling
    stream. `lexicon_fraction` < 1 keeps only the first part of every word class, for
    smaller vocabularies in quick experiments.
    """

    def __init__(self, seed: int = 0, lexicon_fraction: float = 1.0):
        if not 0 < lexicon_fraction <= 1:
            raise ValueError(f"TranslationTask: lexicon_fraction must be in (0, 1], "
                             f"got {lexicon_fraction}")
        self.seed = int(seed)

        def keep(words: Sequence[str]) -> list[str]:
            return list(words[:max(2, round(len(words) * lexicon_fraction))])

        self.nouns = keep(NOUNS)
        self.adjectives = keep(ADJECTIVES)
        self.transitive_verbs = keep(TRANSITIVE_VERBS)
        self.intransitive_verbs = keep(INTRANSITIVE_VERBS)
        self.adverbs = keep(ADVERBS)
        self.numerals = list(NUMERALS)
        self._build_source_forms()
        self._build_dictionary(np.random.default_rng([self.seed, 1]))
        self.src_vocab = list(SPECIALS) + sorted(self._src_lemma)
        self.tgt_vocab = list(SPECIALS) + sorted(self._target_words())
        self._src_index = {w: i for i, w in enumerate(self.src_vocab)}
        self._tgt_index = {w: i for i, w in enumerate(self.tgt_vocab)}

    # ------------------------------------------------------------ lexicon
    def _build_source_forms(self) -> None:
        """Source word form -> (category, lemma, number). Every form is one token."""
        forms: dict[str, tuple[str, str, str | None]] = {}

        def put(form: str, entry: tuple[str, str, str | None]) -> None:
            if form in forms:   # a clash would make the parse ambiguous
                raise AssertionError(f"source form {form!r} is both {forms[form]} and {entry}")
            forms[form] = entry

        for n in self.nouns:
            put(n, ("noun", n, "sg"))
            put(_add_s(n), ("noun", n, "pl"))
        for a in self.adjectives:
            put(a, ("adj", a, None))
        for cat, verbs in (("vt", self.transitive_verbs), ("vi", self.intransitive_verbs)):
            for v in verbs:
                put(v, (cat, v, "pl"))
                put(_add_s(v), (cat, v, "sg"))
        for a in self.adverbs:
            put(a, ("adv", a, None))
        for d in DETERMINERS:
            put(d, ("det", d, None))
        for n in self.numerals:
            put(n, ("num", n, "pl"))
        for c in COORDINATORS + SUBORDINATORS:
            put(c, ("conj", c, None))
        put(RELATIVE, ("rel", RELATIVE, None))
        put(PERIOD, ("period", PERIOD, None))
        self._src_lemma = forms

    def _build_dictionary(self, rng: np.random.Generator) -> None:
        """A random target stem for every source lemma and a random gender for every noun."""
        onsets = list("bdfgklmnprstvz") + ["sh", "ch", "tr", "gr"]
        vowels = list("aeiou")
        codas = ["", "", "n", "r", "l", "k", "s", "m"]
        lemmas = (self.nouns + self.adjectives + self.transitive_verbs
                  + self.intransitive_verbs + self.adverbs + self.numerals
                  + list(COORDINATORS + SUBORDINATORS) + list(ARTICLE_LEMMAS) + ["REL", "ACC"])
        used: set[str] = set()
        self.dictionary: dict[str, str] = {}
        for lemma in lemmas:
            while True:
                n_syllables = 1 if lemma in ("REL", "ACC") or lemma in ARTICLE_LEMMAS else 2
                stem = "".join(rng.choice(onsets) + rng.choice(vowels)
                               for _ in range(n_syllables)) + rng.choice(codas)
                if stem not in used:
                    break
            used.add(stem)
            self.dictionary[lemma] = stem
        self.genders = {n: ("m", "f")[int(rng.integers(2))] for n in self.nouns}

    def _target_words(self) -> set[str]:
        d = self.dictionary
        words = {PERIOD, d["ACC"]}
        for n in self.nouns:
            words |= {d[n], f"{d[n]}-{PLURAL_NOUN_SUFFIX}"}
        for lemma in self.adjectives + list(ARTICLE_LEMMAS) + ["REL"]:
            words |= {f"{d[lemma]}-{s}" for s in NOMINAL_SUFFIX.values()}
        for v in self.transitive_verbs + self.intransitive_verbs:
            words |= {f"{d[v]}-{s}" for s in VERB_SUFFIX.values()}
        for lemma in self.adverbs + self.numerals + list(COORDINATORS + SUBORDINATORS):
            words.add(d[lemma])
        return words

    def lemma_of(self, src_token: str) -> str:
        """The dictionary entry a source token translates through ('dogs' -> 'dog',
        'some' -> 'INDEF', 'who' -> 'REL')."""
        cat, lemma, _ = self._lookup(src_token, 0, [src_token])
        if cat == "det":
            return DETERMINERS[lemma][0]
        return "REL" if cat == "rel" else lemma

    # ------------------------------------------------------------ parsing
    def _lookup(self, token: str, i: int, tokens: Sequence[str]):
        if token not in self._src_lemma:
            raise ValueError(f"TranslationTask: unknown source token {token!r} at position {i} "
                             f"of {' '.join(tokens)!r}; it is not in src_vocab")
        return self._src_lemma[token]

    def parse(self, src_tokens: Sequence[str]) -> Sentence:
        """The one parse of a source sentence; ValueError says where it breaks the grammar."""
        tokens = list(src_tokens)
        pos = 0

        def fail(what: str):
            seen = " ".join(tokens[:pos]) + " ^ " + " ".join(tokens[pos:])
            raise ValueError(f"TranslationTask.parse: {what} at position {pos}: {seen!r}")

        def peek() -> tuple[str, str, str | None] | None:
            return self._lookup(tokens[pos], pos, tokens) if pos < len(tokens) else None

        def take(category: str):
            nonlocal pos
            entry = peek()
            if entry is None or entry[0] != category:
                fail(f"expected {category}, found {tokens[pos] if entry else 'the end'!r}")
            pos += 1
            return entry

        def noun_phrase(depth: int) -> NounPhrase:
            _, det, _ = take("det")
            numeral = take("num")[1] if peek() and peek()[0] == "num" else None
            adjectives = []
            while peek() and peek()[0] == "adj":
                adjectives.append(take("adj")[1])
            _, noun, number = take("noun")
            plural = number == "pl"
            if numeral and (not plural or det not in DETERMINERS_WITH_NUMERAL):
                fail(f"the numeral {numeral!r} needs a plural noun and one of "
                     f"{DETERMINERS_WITH_NUMERAL}, got {det!r} ... {tokens[pos - 1]!r}")
            if number not in DETERMINERS[det][1]:
                fail(f"determiner {det!r} does not agree with {number} noun {tokens[pos - 1]!r}")
            relative = None
            if peek() and peek()[0] == "rel":
                take("rel")
                relative = verb_phrase(plural, depth + 1)
            return NounPhrase(noun, plural, det, numeral, adjectives, relative)

        def verb_phrase(subject_plural: bool, depth: int) -> VerbPhrase:
            adverb = take("adv")[1] if peek() and peek()[0] == "adv" else None
            entry = peek()
            if entry is None or entry[0] not in ("vt", "vi"):
                fail(f"expected a verb, found {tokens[pos] if entry else 'the end'!r}")
            cat, verb, number = take(entry[0])
            if (number == "pl") != subject_plural:
                fail(f"verb {tokens[pos - 1]!r} does not agree with its "
                     f"{'plural' if subject_plural else 'singular'} subject")
            obj = noun_phrase(depth) if cat == "vt" else None
            return VerbPhrase(verb, obj, adverb)

        clauses, connectors = [], []
        while True:
            subject = noun_phrase(0)
            clauses.append(Clause(subject, verb_phrase(subject.plural, 0)))
            entry = peek()
            if entry and entry[0] == "conj":
                connectors.append(take("conj")[1])
                continue
            take("period")
            if pos != len(tokens):
                fail("tokens after the final '.'")
            return Sentence(clauses, connectors)

    # ------------------------------------------------------------ the two languages
    def realize_source(self, sentence: Sentence) -> list[str]:
        """Source tokens of a parse tree (the inverse of `parse`)."""
        def noun_phrase(np_: NounPhrase) -> list[str]:
            out = [np_.det] + ([np_.numeral] if np_.numeral else []) + list(np_.adjectives)
            out.append(_add_s(np_.noun) if np_.plural else np_.noun)
            if np_.relative:
                out += [RELATIVE] + verb_phrase(np_.relative, np_.plural)
            return out

        def verb_phrase(vp: VerbPhrase, subject_plural: bool) -> list[str]:
            out = [vp.adverb] if vp.adverb else []
            out.append(vp.verb if subject_plural else _add_s(vp.verb))
            return out + (noun_phrase(vp.obj) if vp.obj else [])

        out: list[str] = []
        for i, clause in enumerate(sentence.clauses):
            if i:
                out.append(sentence.connectors[i - 1])
            out += noun_phrase(clause.subject) + verb_phrase(clause.vp, clause.subject.plural)
        return out + [PERIOD]

    def translate(self, src_tokens: Sequence[str]) -> list[str]:
        """The reference translation: parse, then apply the target's rules."""
        d = self.dictionary

        def agreement(np_: NounPhrase) -> tuple[str, str]:
            return self.genders[np_.noun], "pl" if np_.plural else "sg"

        def noun_phrase(np_: NounPhrase) -> list[str]:
            agr = agreement(np_)
            nominal = NOMINAL_SUFFIX[agr]
            out = [f"{d[DETERMINERS[np_.det][0]]}-{nominal}"]
            out.append(f"{d[np_.noun]}-{PLURAL_NOUN_SUFFIX}" if np_.plural else d[np_.noun])
            out += [f"{d[a]}-{nominal}" for a in reversed(np_.adjectives)]   # mirror order
            if np_.numeral:
                out.append(d[np_.numeral])
            if np_.relative:
                out += [f"{d['REL']}-{nominal}"] + verb_phrase(np_.relative, agr)
            return out

        def verb_phrase(vp: VerbPhrase, agr: tuple[str, str]) -> list[str]:
            out = noun_phrase(vp.obj) + [d["ACC"]] if vp.obj else []
            if vp.adverb:
                out.append(d[vp.adverb])
            return out + [f"{d[vp.verb]}-{VERB_SUFFIX[agr]}"]   # verb last, agrees with subject

        sentence = self.parse(src_tokens)
        out: list[str] = []
        for i, clause in enumerate(sentence.clauses):
            words = noun_phrase(clause.subject) + verb_phrase(clause.vp, agreement(clause.subject))
            connector = sentence.connectors[i - 1] if i else None
            if connector in SUBORDINATORS:
                out += words + [d[connector]]         # "because" closes its clause
            elif connector:
                out += [d[connector]] + words
            else:
                out += words
        return out + [PERIOD]

    # ------------------------------------------------------------ generation
    def _random_sentence(self, length: int, rng: np.random.Generator) -> Sentence:
        """A sentence of exactly `length` source tokens.

        Start from "det noun verb ." (4 tokens) and grow: each step picks a kind of
        addition that fits the remaining budget (a clause +4, an object +2, a relative
        clause +2, an adjective/adverb/numeral +1), then a node to add it to. Drawing the
        length first makes every length equally common."""
        def pick(words):
            return words[int(rng.integers(len(words)))]

        def new_np() -> NounPhrase:
            return NounPhrase(pick(self.nouns), plural=bool(rng.random() < 0.3))

        def new_clause() -> Clause:
            return Clause(new_np(), VerbPhrase(pick(self.intransitive_verbs)))

        for _attempt in range(100):
            s = Sentence([new_clause()], [])
            budget = length - 4
            while budget > 0:
                nps, vps = [], []   # (node, relative depth)

                def walk_np(np_, depth):
                    nps.append((np_, depth))
                    if np_.relative:
                        walk_vp(np_.relative, depth + 1)

                def walk_vp(vp, depth):
                    vps.append((vp, depth))
                    if vp.obj:
                        walk_np(vp.obj, depth)

                for c in s.clauses:
                    walk_np(c.subject, 0)
                    walk_vp(c.vp, 0)
                options = {
                    "clause": (4, 1.0, [None]),
                    "object": (2, 1.5, [v for v, _ in vps if v.obj is None]),
                    "relative": (2, 1.0, [n for n, dp in nps
                                          if n.relative is None and dp < MAX_RELATIVE_DEPTH]),
                    "adjective": (1, 1.0, [n for n, _ in nps
                                           if len(n.adjectives) < MAX_ADJECTIVES]),
                    "adverb": (1, 0.5, [v for v, _ in vps if v.adverb is None]),
                    "numeral": (1, 0.4, [n for n, _ in nps if n.numeral is None]),
                }
                kinds = [k for k, (cost, _, nodes) in options.items() if cost <= budget and nodes]
                if not kinds:
                    break
                weights = np.array([options[k][1] for k in kinds])
                kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
                cost, _, nodes = options[kind]
                node = nodes[int(rng.integers(len(nodes)))]
                budget -= cost
                if kind == "clause":
                    s.connectors.append(pick(COORDINATORS + SUBORDINATORS))
                    s.clauses.append(new_clause())
                elif kind == "object":
                    node.verb = pick(self.transitive_verbs)
                    node.obj = NounPhrase(pick(self.nouns), plural=bool(rng.random() < 0.3))
                elif kind == "relative":
                    node.relative = VerbPhrase(pick(self.intransitive_verbs))
                elif kind == "adjective":
                    node.adjectives.append(pick([a for a in self.adjectives
                                                 if a not in node.adjectives]))
                elif kind == "adverb":
                    node.adverb = pick(self.adverbs)
                else:
                    node.numeral = pick(self.numerals)
                    node.plural = True
            if budget == 0:
                self._choose_determiners(s, rng)
                return s
        raise RuntimeError(f"TranslationTask: could not grow a sentence of length {length}")

    def _choose_determiners(self, s: Sentence, rng: np.random.Generator) -> None:
        stack: list = [c.subject for c in s.clauses] + [c.vp for c in s.clauses]
        while stack:
            node = stack.pop()
            if isinstance(node, VerbPhrase):
                if node.obj:
                    stack.append(node.obj)
                continue
            if node.numeral:
                choices, p = DETERMINERS_WITH_NUMERAL, [0.6, 0.2, 0.2]
            elif node.plural:
                choices, p = ("the", "these", "those", "some"), [0.5, 0.15, 0.15, 0.2]
            else:
                choices, p = ("the", "a", "this", "that", "every"), [0.45, 0.3, 0.1, 0.1, 0.05]
            node.det = choices[int(rng.choice(len(choices), p=p))]
            if node.relative:
                stack.append(node.relative)

    @staticmethod
    def _generator(rng, seed_parts) -> np.random.Generator:
        if rng is None:
            return np.random.default_rng(seed_parts)
        if isinstance(rng, (int, np.integer)):
            return np.random.default_rng(int(rng))
        if isinstance(rng, np.random.Generator):
            return rng
        raise TypeError(f"TranslationTask: rng must be None, an int seed or a "
                        f"numpy.random.Generator, got {type(rng).__name__}")

    def sample(self, n: int, min_len: int = 5, max_len: int = 40,
               rng: np.random.Generator | int | None = None) -> list[tuple[list[str], list[str]]]:
        """`n` (source, target) pairs, source lengths uniform over [min_len, max_len].

        rng=None draws from the task's seed, so the same call gives the same pairs; pass a
        Generator for a fresh stream. Pairs may repeat; `splits` removes repeats."""
        if not 4 <= min_len <= max_len:
            raise ValueError(f"TranslationTask.sample: need 4 <= min_len <= max_len "
                             f"(the shortest sentence, 'the dog runs .', has 4 tokens), "
                             f"got min_len={min_len}, max_len={max_len}")
        if n < 0:
            raise ValueError(f"TranslationTask.sample: n must be >= 0, got {n}")
        gen = self._generator(rng, [self.seed, 2])
        pairs = []
        for _ in range(n):
            src = self.realize_source(
                self._random_sentence(int(gen.integers(min_len, max_len + 1)), gen))
            pairs.append((src, self.translate(src)))
        return pairs

    def splits(self, n_train: int, n_valid: int, n_test: int, min_len: int = 5,
               max_len: int = 40) -> dict[str, list[tuple[list[str], list[str]]]]:
        """Train/valid/test pairs with no source sentence in two splits (nor twice in one)."""
        sizes = {"train": n_train, "valid": n_valid, "test": n_test}
        gen = self._generator(None, [self.seed, 3])
        seen: set[tuple[str, ...]] = set()
        out: dict[str, list] = {}
        duplicates_in_a_row = 0
        for name, size in sizes.items():
            out[name] = []
            while len(out[name]) < size:
                chunk = min(size - len(out[name]), 256)
                for src, tgt in self.sample(chunk, min_len, max_len, gen):
                    if tuple(src) in seen:
                        duplicates_in_a_row += 1
                        continue
                    duplicates_in_a_row = 0
                    seen.add(tuple(src))
                    out[name].append((src, tgt))
                if duplicates_in_a_row >= 2000:   # the language is (nearly) exhausted
                    raise ValueError(
                        f"TranslationTask.splits: found only {len(seen)} distinct sentences of "
                        f"length {min_len}-{max_len} for {sum(sizes.values())} requested; ask "
                        f"for fewer, widen the lengths or raise lexicon_fraction")
        return out

    # ------------------------------------------------------------ ids
    def _encode(self, tokens: Sequence[str], index: dict[str, int], side: str,
                allow_unk: bool) -> np.ndarray:
        ids = []
        for i, t in enumerate(tokens):
            if t in index:
                ids.append(index[t])
            elif allow_unk:
                ids.append(UNK_ID)
            else:
                raise ValueError(f"TranslationTask.encode_{side}: token {t!r} at position {i} "
                                 f"is not in {side}_vocab; pass allow_unk=True to map it to {UNK}")
        return np.asarray(ids, dtype=np.int64)

    def encode_src(self, tokens: Sequence[str], allow_unk: bool = False) -> np.ndarray:
        """Source tokens -> int64 ids (no <bos>/<eos>)."""
        return self._encode(tokens, self._src_index, "src", allow_unk)

    def encode_tgt(self, tokens: Sequence[str], allow_unk: bool = False) -> np.ndarray:
        """Target tokens -> int64 ids (no <bos>/<eos>; `batches` adds them)."""
        return self._encode(tokens, self._tgt_index, "tgt", allow_unk)

    def _decode(self, ids, vocab: list[str], side: str) -> list[str]:
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if not (isinstance(i, int) and 0 <= i < len(vocab)):
                raise ValueError(f"TranslationTask.decode_{side}: id {i!r} is not in "
                                 f"[0, {len(vocab)}); ids must index {side}_vocab")
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                out.append(vocab[i])
        return out

    def decode_tgt(self, ids) -> list[str]:
        """Ids -> target tokens, skipping <pad>/<bos> and stopping at the first <eos>."""
        return self._decode(ids, self.tgt_vocab, "tgt")

    def decode_src(self, ids) -> list[str]:
        """Ids -> source tokens, skipping <pad>/<bos> and stopping at the first <eos>."""
        return self._decode(ids, self.src_vocab, "src")

    def batches(self, pairs: Sequence[tuple[Sequence[str], Sequence[str]]], batch_size: int,
                rng: np.random.Generator | int | None = None, reverse_source: bool = False,
                drop_last: bool = False) -> Iterator[Batch]:
        """Padded int64 batches of `pairs`, shuffled when `rng` is given (in order when None).

        reverse_source=True feeds each source backwards (Sutskever et al. 2014) while
        padding stays on the right, so `src_lengths` still marks the real tokens."""
        if batch_size < 1:
            raise ValueError(f"TranslationTask.batches: batch_size must be >= 1, got {batch_size}")
        order = np.arange(len(pairs))
        if rng is not None:
            order = self._generator(rng, None).permutation(len(pairs))
        for start in range(0, len(pairs), batch_size):
            idx = order[start:start + batch_size]
            if drop_last and len(idx) < batch_size:
                return
            srcs = [self.encode_src(pairs[i][0]) for i in idx]
            tgts = [self.encode_tgt(pairs[i][1]) for i in idx]
            if reverse_source:
                srcs = [s[::-1] for s in srcs]
            src_lengths = np.array([len(s) for s in srcs], dtype=np.int64)
            src = np.full((len(idx), int(src_lengths.max())), PAD_ID, dtype=np.int64)
            t_len = max(len(t) for t in tgts) + 1
            tgt_in = np.full((len(idx), t_len), PAD_ID, dtype=np.int64)
            tgt_out = np.full((len(idx), t_len), PAD_ID, dtype=np.int64)
            for row, (s, t) in enumerate(zip(srcs, tgts)):
                src[row, :len(s)] = s
                tgt_in[row, 0] = BOS_ID
                tgt_in[row, 1:len(t) + 1] = t
                tgt_out[row, :len(t)] = t
                tgt_out[row, len(t)] = EOS_ID
            yield Batch(src, src_lengths, tgt_in, tgt_out)
