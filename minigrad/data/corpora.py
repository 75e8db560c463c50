"""Text corpora: files on disk, language-model batches, and two corpora the project
generates itself (seeded and offline) so that lessons and tests never need a download.
"""
from __future__ import annotations

import bisect
import os
import random
from pathlib import Path

import numpy as np

KNOWN_CORPORA = {"tinyshakespeare": "tinyshakespeare.txt", "names": "names.txt"}


# ---------------------------------------------------------------------- files
def data_dir() -> Path | None:
    """The folder named by $MINIGRAD_DATA, or None when it is not set."""
    value = os.environ.get("MINIGRAD_DATA")
    return Path(value).expanduser() if value else None


def load_text(name_or_path) -> str:
    """The text of a file: a path, or a bare corpus name ("tinyshakespeare", "names",
    or any NAME for which $MINIGRAD_DATA/NAME.txt exists) looked up in $MINIGRAD_DATA."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8")
    name = str(name_or_path)
    is_bare_name = os.sep not in name and "/" not in name
    folder = data_dir()
    tried = [str(path)]
    if is_bare_name and folder is not None:
        for candidate in (folder / KNOWN_CORPORA.get(name, name), folder / f"{name}.txt"):
            if candidate.is_file():
                return candidate.read_text(encoding="utf-8")
            tried.append(str(candidate))
    hint = (f"$MINIGRAD_DATA is {str(folder)!r}" if folder is not None else "$MINIGRAD_DATA is not set")
    raise FileNotFoundError(
        f"load_text: no file for {name!r}; looked at {', '.join(dict.fromkeys(tried))} ({hint}). "
        "Pass a path, or set MINIGRAD_DATA to the folder that holds the corpora, e.g. "
        "`export MINIGRAD_DATA=/path/to/data` (it should contain tinyshakespeare.txt and names.txt). "
        "builtin_text() and builtin_names() need no files."
    )


def train_val_split(data, frac: float = 0.9):
    """(first `frac` of data, the rest), in order, as nanoGPT splits a corpus.
    Works on strings, lists and arrays."""
    if not 0.0 < frac < 1.0:
        raise ValueError(f"train_val_split: frac must be strictly between 0 and 1, got {frac}")
    n = int(frac * len(data))
    return data[:n], data[n:]


def _as_generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"expected a numpy Generator, an int seed or None, got {type(rng).__name__}")


def get_batch(data, block_size: int, batch_size: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """A random batch for language modelling from a 1-D sequence of token ids:
    x[b] = data[i_b : i_b + block_size], y[b] = data[i_b + 1 : i_b + 1 + block_size]
    (y is x shifted by one: the next token at every position). Both int64 of shape
    (batch_size, block_size). `rng`: a numpy Generator, an int seed, or None."""
    data = np.asarray(data)
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.integer):
        raise ValueError(f"get_batch: data must be a 1-D array of integer token ids, got shape {data.shape} "
                         f"and dtype {data.dtype}; encode the text first")
    if block_size < 1 or batch_size < 1:
        raise ValueError(f"get_batch: block_size and batch_size must be >= 1, got {block_size}, {batch_size}")
    if len(data) <= block_size:
        raise ValueError(f"get_batch: data has {len(data)} tokens, needs more than block_size={block_size} "
                         "(one extra for the target)")
    starts = _as_generator(rng).integers(0, len(data) - block_size, size=batch_size)
    offsets = starts[:, None] + np.arange(block_size)[None, :]
    return data[offsets].astype(np.int64), data[offsets + 1].astype(np.int64)


# ---------------------------------------------------------------------- generated corpora
# Python's `random.Random` is used (not numpy) because its random() stream is the same on
# every platform and version, so a seed gives the same corpus everywhere.
def _pick(rng: random.Random, items, weights=None):
    """One item; `weights` default to Zipf's law by list position (1, 1/2, 1/3, ...),
    so the first items are common and the last rare, as in real text."""
    if weights is None:
        weights = [1.0 / (k + 1) for k in range(len(items))]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    return items[min(bisect.bisect_right(cumulative, rng.random() * total), len(items) - 1)]


_ONSETS = ["", "m", "l", "j", "k", "d", "r", "s", "n", "b", "t", "c", "h", "br", "sh", "g", "v", "z", "ch", "p",
           "tr", "f", "w", "st", "cl", "gr", "th", "fr", "dr", "kr", "y", "ph", "sk", "qu", "x"]
_NUCLEI = ["a", "e", "i", "o", "a", "ai", "ay", "ia", "ee", "ie", "u", "ea", "y", "io", "ou", "au", "oe"]
_CODAS = ["", "", "", "", "n", "l", "r", "s", "m", "th", "nd", "rt", "st", "x"]
_ENDINGS = {
    "soft": ["a", "ah", "ia", "ie", "ella", "elle", "ette", "ina", "lyn", "anna", "ey", "y", "ara", "issa", "ine"],
    "hard": ["on", "an", "er", "o", "us", "el", "ian", "den", "ton", "son", "ey", "iel", "ric", "ard", "ius"],
}


def _one_name(rng: random.Random) -> str:
    style = "soft" if rng.random() < 0.55 else "hard"
    n_syllables = _pick(rng, [1, 2, 3], [0.45, 0.45, 0.10])
    name = ""
    for k in range(n_syllables):
        onset = _pick(rng, _ONSETS)
        if k > 0 and onset == "" and name[-1] in "aeiouy":
            onset = _pick(rng, _ONSETS[1:12])  # avoid long vowel runs between syllables
        name += onset + _pick(rng, _NUCLEI) + (_pick(rng, _CODAS) if k == n_syllables - 1 or rng.random() < 0.3 else "")
    ending = _pick(rng, _ENDINGS[style])
    stem = name.rstrip("aeiouy")
    if ending[0] in "aeiouy" and stem:
        name = stem  # "mia" + "ella" -> "mella": no pile-up of vowels where the ending joins
    return name + ending


def builtin_names(n: int = 2000, seed: int = 0) -> list[str]:
    """`n` made-up names (lower-case a-z, 2-12 letters) from a small syllable process:
    onset consonants + vowel nucleus + optional coda, 1-3 syllables, then a "soft" or
    "hard" ending. Letters follow each other with real structure (a bigram model beats
    letter frequencies), like names.txt, without needing it. Same seed, same list."""
    if n < 0:
        raise ValueError(f"builtin_names: n must be >= 0, got {n}")
    rng = random.Random(seed)
    names = []
    while len(names) < n:
        name = _one_name(rng)
        if 2 <= len(name) <= 12:
            names.append(name)
    return names


# A tiny English grammar. Nouns are (singular, plural); verbs (3rd person singular present,
# plural present, past). Subjects agree with their verb, so a model that remembers the
# subject two or three words back predicts better than one that sees only the last word.
_NAMES = ["Anna", "Tom", "Maria", "Sam", "Lena", "Oscar", "Ida", "Paul", "Nora", "Leo", "Ruth", "Hugo", "Clara",
          "Felix", "Emma", "Jonas", "Vera", "Max", "Alice", "Ben", "Mira", "Otto", "Rosa", "Karl", "Eva"]
_ANIMATE = [("cat", "cats"), ("dog", "dogs"), ("child", "children"), ("woman", "women"), ("man", "men"),
            ("teacher", "teachers"), ("farmer", "farmers"), ("bird", "birds"), ("king", "kings"),
            ("queen", "queens"), ("doctor", "doctors"), ("student", "students"), ("horse", "horses"),
            ("baker", "bakers"), ("sailor", "sailors"), ("fox", "foxes"), ("mouse", "mice"), ("friend", "friends"),
            ("neighbour", "neighbours"), ("soldier", "soldiers"), ("poet", "poets"), ("girl", "girls"),
            ("boy", "boys"), ("wolf", "wolves"), ("painter", "painters"), ("merchant", "merchants"),
            ("sheep", "sheep"), ("owl", "owls"), ("goat", "goats"), ("fisherman", "fishermen")]
# Things by kind, so that each verb takes the objects it takes in English ("reads a letter",
# "opens the door"): the verb two words back predicts the noun, which a trigram sees and a
# bigram does not.
_THINGS = {
    "place": [("river", "rivers"), ("forest", "forests"), ("garden", "gardens"), ("village", "villages"),
              ("city", "cities"), ("hill", "hills"), ("field", "fields"), ("road", "roads"), ("market", "markets"),
              ("mountain", "mountains"), ("island", "islands"), ("valley", "valleys"), ("harbour", "harbours")],
    "building": [("house", "houses"), ("castle", "castles"), ("bridge", "bridges"), ("tower", "towers"),
                 ("wall", "walls"), ("boat", "boats"), ("ship", "ships"), ("barn", "barns"), ("well", "wells"),
                 ("church", "churches"), ("mill", "mills")],
    "readable": [("book", "books"), ("letter", "letters"), ("story", "stories"), ("map", "maps"),
                 ("poem", "poems"), ("note", "notes"), ("sign", "signs"), ("newspaper", "newspapers")],
    "food": [("apple", "apples"), ("cake", "cakes"), ("pear", "pears"), ("egg", "eggs"), ("fish", "fish"),
             ("loaf", "loaves"), ("cherry", "cherries"), ("potato", "potatoes"), ("plum", "plums"), ("pie", "pies")],
    "container": [("door", "doors"), ("window", "windows"), ("box", "boxes"), ("basket", "baskets"),
                  ("gate", "gates"), ("bag", "bags"), ("chest", "chests"), ("drawer", "drawers")],
    "small": [("key", "keys"), ("coin", "coins"), ("ring", "rings"), ("cup", "cups"), ("lamp", "lamps"),
              ("candle", "candles"), ("shoe", "shoes"), ("coat", "coats"), ("knife", "knives"), ("stone", "stones"),
              ("flower", "flowers"), ("leaf", "leaves"), ("clock", "clocks"), ("bell", "bells"), ("hat", "hats"),
              ("picture", "pictures"), ("chair", "chairs"), ("table", "tables")],
}
# (3rd singular, plural, past), and the kinds of object the verb takes
_TRANSITIVE = [
    (("sees", "see", "saw"), ["animate", "place", "building"]),
    (("finds", "find", "found"), ["small", "readable", "animate"]),
    (("likes", "like", "liked"), ["food", "animate", "readable"]),
    (("takes", "take", "took"), ["small", "food"]),
    (("wants", "want", "wanted"), ["food", "small"]),
    (("eats", "eat", "ate"), ["food"]),
    (("reads", "read", "read"), ["readable"]),
    (("opens", "open", "opened"), ["container"]),
    (("holds", "hold", "held"), ["small", "readable"]),
    (("carries", "carry", "carried"), ["small", "food", "container"]),
    (("builds", "build", "built"), ["building"]),
    (("loves", "love", "loved"), ["animate", "place"]),
    (("watches", "watch", "watched"), ["animate"]),
    (("makes", "make", "made"), ["food", "small"]),
    (("paints", "paint", "painted"), ["building", "container"]),
    (("sells", "sell", "sold"), ["food", "small"]),
    (("buys", "buy", "bought"), ["food", "small", "readable"]),
    (("writes", "write", "wrote"), ["readable"]),
    (("follows", "follow", "followed"), ["animate"]),
    (("remembers", "remember", "remembered"), ["readable", "place", "animate"]),
    (("visits", "visit", "visited"), ["place", "building"]),
    (("brings", "bring", "brought"), ["food", "small"]),
    (("hides", "hide", "hid"), ["small", "readable"]),
    (("breaks", "break", "broke"), ["small", "container"]),
    (("closes", "close", "closed"), ["container"]),
    (("cleans", "clean", "cleaned"), ["container", "small", "building"]),
    (("counts", "count", "counted"), ["small", "food", "animate"]),
    (("feeds", "feed", "fed"), ["animate"]),
]
_INTRANSITIVE = [("sleeps", "sleep", "slept"), ("sings", "sing", "sang"), ("walks", "walk", "walked"),
                 ("runs", "run", "ran"), ("waits", "wait", "waited"), ("laughs", "laugh", "laughed"),
                 ("works", "work", "worked"), ("sits", "sit", "sat"), ("dances", "dance", "danced"),
                 ("smiles", "smile", "smiled"), ("falls", "fall", "fell"), ("swims", "swim", "swam"),
                 ("travels", "travel", "travelled"), ("cries", "cry", "cried"), ("listens", "listen", "listened"),
                 ("returns", "return", "returned"), ("rests", "rest", "rested"), ("speaks", "speak", "spoke")]
_SAYING = [("says", "say", "said"), ("thinks", "think", "thought"), ("knows", "know", "knew"),
           ("hopes", "hope", "hoped"), ("believes", "believe", "believed"), ("dreams", "dream", "dreamed")]
_ADJECTIVES = ["old", "little", "big", "small", "red", "green", "quiet", "happy", "dark", "bright", "young", "tall",
               "strange", "kind", "cold", "warm", "heavy", "golden", "white", "black", "brave", "clever", "tired",
               "gentle", "wild", "proud", "empty", "broken", "sweet", "ancient", "lonely", "busy", "narrow", "blue",
               "soft", "wooden", "hungry", "silent", "grey", "wise", "long", "new", "poor", "rich", "shy", "curious",
               "famous", "lucky", "sleepy", "noisy"]
_ADVERBS = ["slowly", "quietly", "again", "today", "happily", "quickly", "often", "carefully", "alone", "together",
            "sadly", "early", "late", "softly", "gladly", "suddenly", "rarely", "loudly", "calmly", "later"]
_PLACE_PREPOSITIONS = ["in", "near", "by", "under", "behind", "across", "over", "beside", "through", "around",
                       "beyond", "inside"]
_TIMES = ["in the morning", "at night", "every day", "in the evening", "after the rain", "before dawn",
          "in the winter", "on sunday", "at noon", "in the spring"]


class _Grammar:
    """Sentences from a small probabilistic grammar; every choice is Zipf-weighted."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def noun_phrase(self, nouns, plural: bool, allow_pp: bool = True) -> str:
        noun = _pick(self.rng, nouns)[1 if plural else 0]
        det = _pick(self.rng, ["the", "some", "many", "two", "these", "those", "all the"] if plural
                    else ["the", "a", "this", "that", "every", "my", "her", "his", "our"])
        words = [det]
        if self.chance(0.4):
            words.append(_pick(self.rng, _ADJECTIVES))
            if self.chance(0.15):
                second = _pick(self.rng, _ADJECTIVES)
                if second != words[-1]:
                    words.append(second)
        words.append(noun)
        phrase = " ".join(words)
        if phrase.startswith("a ") and phrase[2] in "aeiou":
            phrase = "an" + phrase[1:]
        if allow_pp and self.chance(0.2):
            phrase += " " + self.place(allow_pp=False)
        return phrase

    def place(self, allow_pp: bool = True) -> str:
        kind = _pick(self.rng, ["place", "building"], [0.6, 0.4])
        return _pick(self.rng, _PLACE_PREPOSITIONS) + " " + self.noun_phrase(_THINGS[kind], self.chance(0.2), allow_pp)

    def subject(self) -> tuple[str, bool]:
        """(words, is_plural)"""
        kind = _pick(self.rng, ["animate", "name", "pronoun", "two names"], [0.55, 0.2, 0.2, 0.05])
        if kind == "name":
            return _pick(self.rng, _NAMES), False
        if kind == "two names":
            return f"{_pick(self.rng, _NAMES)} and {_pick(self.rng, _NAMES)}", True
        if kind == "pronoun":
            pronoun = _pick(self.rng, ["she", "he", "they", "we", "it"])
            return pronoun, pronoun in ("they", "we")
        plural = self.chance(0.35)
        return self.noun_phrase(_ANIMATE, plural), plural

    def verb(self, verbs, plural: bool, past: bool) -> str:
        forms = _pick(self.rng, verbs)
        return forms[2] if past else forms[1 if plural else 0]

    def clause(self, depth: int = 0) -> str:
        subject, plural = self.subject()
        past = self.chance(0.4)
        kind = _pick(self.rng, ["transitive", "intransitive", "saying"], [0.55, 0.35, 0.10 if depth < 2 else 0.0])
        if kind == "transitive":
            forms, kinds = _pick(self.rng, _TRANSITIVE)
            object_kind = kinds[int(self.rng.random() * len(kinds))]
            obj_nouns = _ANIMATE if object_kind == "animate" else _THINGS[object_kind]
            verb = forms[2] if past else forms[1 if plural else 0]
            words = [subject, verb, self.noun_phrase(obj_nouns, self.chance(0.3))]
        elif kind == "intransitive":
            words = [subject, self.verb(_INTRANSITIVE, plural, past)]
            if self.chance(0.4):
                words.append(_pick(self.rng, _ADVERBS))
            if self.chance(0.4):
                words.append(self.place())
        else:
            words = [subject, self.verb(_SAYING, plural, past), "that", self.clause(depth + 1)]
        if self.chance(0.15):
            words.append(_pick(self.rng, _TIMES))
        return " ".join(words)

    def sentence(self) -> str:
        form = _pick(self.rng, ["plain", "and", "because", "but", "when"], [0.6, 0.15, 0.1, 0.08, 0.07])
        if form == "plain":
            body = self.clause()
        elif form == "when":
            body = f"when {self.clause(1)}, {self.clause(1)}"
        else:
            body = f"{self.clause(1)}{',' if form != 'because' else ''} {form} {self.clause(1)}"
        return body[0].upper() + body[1:] + "."


def builtin_text(n_chars: int = 100_000, seed: int = 0) -> str:
    """Exactly `n_chars` characters of English-like prose from a small probabilistic
    grammar (a few hundred words, subject-verb agreement, prepositional phrases,
    subordinate clauses, verbs that choose their objects, paragraphs). Word frequencies
    follow Zipf's law. As in real text, a character model gains from every longer context
    up to 5 characters, and at the word level a bigram model beats word frequencies by a
    wide margin (held-out cross-entropy ~5.0 -> ~3.8 nats on 200k characters). Word
    trigrams need more than simple smoothing to gain here, as in real English.
    Same seed, same text."""
    if n_chars < 0:
        raise ValueError(f"builtin_text: n_chars must be >= 0, got {n_chars}")
    grammar = _Grammar(random.Random(seed))
    parts: list[str] = []
    length = 0
    while length < n_chars:
        paragraph = " ".join(grammar.sentence() for _ in range(grammar.rng.randint(3, 7))) + "\n"
        parts.append(paragraph)
        length += len(paragraph)
    return "".join(parts)[:n_chars]
