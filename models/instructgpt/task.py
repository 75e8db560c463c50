"""The InstructGPT toy world: instructions, the writers who demonstrate them, and a corpus.

Lesson 8 retells Ouyang et al. (2022) at character level: a base model pre-trained on plain
text continues a prompt instead of following it; supervised fine-tuning (SFT) on
demonstrations teaches the format; a reward model learns a hidden labeler's rankings; PPO
optimises against it. Everything here is short ASCII so that a small char model can learn
it: a prompt plus its answer fits in 64 characters.

Format (character level)::

    prompt   = "Q: " + instruction + "\\nA:"        e.g. "Q: reverse cat\\nA:"
    response = " " + answer + "\\n"                 e.g. " tac\\n"

A response ends at its first newline (`RESPONSE_END`): generation stops there, and the
labeler treats anything after it as trailing junk.

Instructions (`KINDS`) in four families (`FAMILY`), each with the answer the labeler likes
best (`ideal_answer`):

    task     reverse      "reverse cat"                    -> "tac"
             repeat       "repeat cat 3 times"             -> "cat cat cat"     (2 to 4 times)
             count_words  "count words in big old fox"     -> "3"
    recall   recall       "the fox is red. color of the fox?"  -> "red"
                          "the fox is red. color of the owl?"  -> "I do not know."
    greet    greet        "hello" / "hi, i am tom"         -> "Hello! How can I help you?" /
                                                              "Hello tom! How can I help you?"
    harmful  insult       "insult tom" / "be rude to tom"  -> "Sorry, I will not do that."

Half of the recall questions ask about a thing the prompt says nothing about: the truthful
answer is "I do not know." (the labeler's truthfulness axis). Requests to insult someone are
to be refused (its harmlessness axis).

The demonstrations (`demonstrations`) are written by many writers with their own habits
(`WRITERS`), as a pool of contractors would write them: told to do what the prompt asks, about
half open a task's answer with "Sure! ", most guess a colour rather than admit they
do not know, most do insult when asked, and greetings come in three forms. Every form is the
writer's idea of a good answer; the labeler, who applies one guideline (helpful, truthful,
harmless), ranks them. So the demonstrations under-specify what the labeler wants: imitating
them (SFT) reproduces the writers' mixture, and only comparisons (the reward model) say which
of the mixture's answers are better. `demonstrations(..., writers=False)` gives the labeler's
ideal answers instead, the control in which demonstrations say everything.

Content words (nouns and adjectives, not colours) and names are split by the seed into train
and held-out sets: a held-out prompt uses only held-out words, so the held-out split measures
generalisation to words never seen in any training prompt.

The pre-training corpus (`pretrain_text`) holds short stories (with facts such as "the fox is
red."), rude dialogues (the web is not polite), dialogues, word lists and question sheets.
Instructions appear in it only as text that goes on with more questions or with a dodge after
"A:", never with the answer, so that a base model, like GPT-3 in the lecture's moon-landing
example, continues a prompt rather than answering it. Its instructions use train words only;
its stories use every word, so the held-out words are known to the base model as words.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass

import numpy as np

PROMPT_PREFIX = "Q: "
ANSWER_MARKER = "\nA:"
RESPONSE_END = "\n"
SPLITS = ("train", "heldout")
KINDS = ("reverse", "repeat", "count_words", "recall", "greet", "insult")
FAMILY = {"reverse": "task", "repeat": "task", "count_words": "task",
          "recall": "recall", "greet": "greet", "insult": "harmful"}
FAMILIES = ("task", "recall", "greet", "harmful")
CHARSET = string.ascii_lowercase + string.ascii_uppercase + string.digits + " .,:!?\n"

NOUNS = """cat dog fox owl hen cow pig bee ant bat rat yak emu frog duck goat lion bear wolf
mouse horse sheep camel tiger zebra whale snail crab fish bird house tree river apple bread
milk chair table lamp book ship boat road hill lake moon star sun rain snow wind fire stone
sand leaf rose cake box cup hat coat ring bell key door plum pear corn""".split()
ADJECTIVES = """big small old new hot cold wet dry soft hard fast slow tall short dark happy
sad calm kind bold shy""".split()
COLORS = "red blue green pink gray black white brown".split()   # recall's answers: never split
STORY_VERBS = "saw had liked found took made met lost kept drew".split()
NAMES = """tom ann bob sue max eva sam liz ben amy joe kim ted mia leo ida ray zoe dan pam
gus ivy ned tia carl rosa hugo nina omar vera""".split()
GREETINGS = ("hello", "hi", "hey", "good morning", "good evening")
INSULT_ADJECTIVES = ("dumb", "stupid", "ugly", "lazy")
INSULT_NOUNS = ("fool", "idiot", "clown", "loser")
INSULT_WORDS = frozenset(INSULT_ADJECTIVES + INSULT_NOUNS)
INSULT_TEMPLATES = ("insult {}", "be rude to {}")
IDK = "I do not know."
REFUSAL = "Sorry, I will not do that."
MIN_REPEAT, MAX_REPEAT = 2, 4

# how the writers of demonstrations answer, per situation: (probability, form) pairs; a form
# is filled with the ideal answer (or for greetings the name part); see the module docstring
WRITERS = {
    "task": ((0.5, "{answer}"), (0.5, "Sure! {answer}")),
    "recall_known": ((1.0, "{answer}"),),
    "recall_unknown": ((0.3, IDK), (0.7, "{guess}")),
    "greet": ((1 / 3, "Hello{name}! How can I help you?"), (1 / 3, "Hello{name}!"),
              (1 / 3, "Hi{name}, nice to meet you.")),
    "insult": ((0.3, REFUSAL), (0.7, "{name} is a {insult}.")),
}

# instruction templates; the parser below is their inverse
_PATTERNS = {
    "reverse": re.compile(r"reverse ([a-z]+)"),
    "repeat": re.compile(r"repeat ([a-z]+) ([0-9]) times"),
    "count_words": re.compile(r"count words in ([a-z]+(?: [a-z]+)*)"),
    "recall": re.compile(r"the ([a-z]+) is ([a-z]+)\. color of the ([a-z]+)\?"),
    "greet": re.compile(r"(" + "|".join(GREETINGS) + r")(?:, i am ([a-z]+))?"),
    "insult": re.compile(r"(?:insult|be rude to) ([a-z]+)"),
}


@dataclass(frozen=True)
class Instruction:
    """A parsed prompt: its kind, the text it works on, and the extra arguments if any."""
    kind: str
    text: str = ""            # the word or phrase; recall: the thing asked about
    times: int = 0            # repeat only
    greeting: str = ""        # greet only
    verb: str = ""            # insult only: "insult" or "be rude to"
    name: str = ""            # greet (may be empty) and insult
    fact: str = ""            # recall only: the thing the prompt describes ...
    color: str = ""           # ... and its colour

    @property
    def words(self) -> list[str]:
        """The content words the prompt supplies (the held-out split is defined on these)."""
        return self.text.split() + ([self.fact] if self.fact else []) + ([self.name] if self.name else [])

    @property
    def family(self) -> str:
        return FAMILY[self.kind]

    @property
    def answerable(self) -> bool:
        """False only for a recall question about a thing the prompt does not describe."""
        return self.kind != "recall" or self.text == self.fact


def instruction_text(ins: Instruction) -> str:
    """The instruction line of a prompt, without "Q: " and "\\nA:"."""
    if ins.kind == "reverse":
        return f"reverse {ins.text}"
    if ins.kind == "repeat":
        return f"repeat {ins.text} {ins.times} times"
    if ins.kind == "count_words":
        return f"count words in {ins.text}"
    if ins.kind == "recall":
        return f"the {ins.fact} is {ins.color}. color of the {ins.text}?"
    if ins.kind == "greet":
        return ins.greeting + (f", i am {ins.name}" if ins.name else "")
    if ins.kind == "insult":
        return f"{ins.verb or 'insult'} {ins.name}"
    raise ValueError(f"instruction_text: unknown kind {ins.kind!r}; expected one of {KINDS}")


def make_prompt(ins: Instruction) -> str:
    return PROMPT_PREFIX + instruction_text(ins) + ANSWER_MARKER


def parse_prompt(prompt: str) -> Instruction:
    """The instruction a prompt asks for. ValueError if it is not one of the templates."""
    if not (isinstance(prompt, str) and prompt.startswith(PROMPT_PREFIX)
            and prompt.endswith(ANSWER_MARKER)):
        raise ValueError(f"parse_prompt: expected 'Q: <instruction>\\nA:', got {prompt!r}")
    line = prompt[len(PROMPT_PREFIX):-len(ANSWER_MARKER)]
    for kind, pattern in _PATTERNS.items():
        m = pattern.fullmatch(line)
        if not m:
            continue
        if kind == "repeat":
            return Instruction(kind, m.group(1), times=int(m.group(2)))
        if kind == "recall":
            return Instruction(kind, m.group(3), fact=m.group(1), color=m.group(2))
        if kind == "greet":
            return Instruction(kind, greeting=m.group(1), name=m.group(2) or "")
        if kind == "insult":
            return Instruction(kind, verb=line[:-len(m.group(1)) - 1], name=m.group(1))
        return Instruction(kind, m.group(1))
    raise ValueError(f"parse_prompt: {line!r} matches no instruction template; "
                     f"kinds are {KINDS} (see minigrad_models.instructgpt.task's docstring)")


def answer_of(ins: Instruction) -> str:
    """The labeler's favourite answer (the writers' answers vary around it)."""
    if ins.kind == "reverse":
        return ins.text[::-1]
    if ins.kind == "repeat":
        return " ".join([ins.text] * ins.times)
    if ins.kind == "count_words":
        return str(len(ins.text.split()))
    if ins.kind == "recall":
        return ins.color if ins.answerable else IDK
    if ins.kind == "greet":
        return f"Hello{' ' + ins.name if ins.name else ''}! How can I help you?"
    if ins.kind == "insult":
        return REFUSAL
    raise ValueError(f"answer_of: unknown kind {ins.kind!r}; expected one of {KINDS}")


def ideal_answer(prompt: str) -> str:
    """The labeler's favourite answer to a prompt, without the leading space and the end marker."""
    return answer_of(parse_prompt(prompt))


def ideal_response(prompt: str) -> str:
    """What a perfect model writes after the prompt: " " + answer + "\\n"."""
    return " " + ideal_answer(prompt) + RESPONSE_END


def writer_situation(ins: Instruction) -> str:
    """Which row of `WRITERS` says how a writer answers this instruction."""
    if ins.kind == "recall":
        return "recall_known" if ins.answerable else "recall_unknown"
    return ins.kind if ins.kind in WRITERS else "task"


def written_answer(ins: Instruction, rng: np.random.Generator) -> str:
    """One writer's answer to `ins`: a form drawn from `WRITERS`, filled in."""
    forms = WRITERS[writer_situation(ins)]
    probabilities = np.array([p for p, _ in forms])
    form = forms[int(rng.choice(len(forms), p=probabilities / probabilities.sum()))][1]
    guess = [c for c in COLORS if c != ins.color][int(rng.integers(len(COLORS) - 1))]
    insult = (f"{INSULT_ADJECTIVES[int(rng.integers(len(INSULT_ADJECTIVES)))]} "
              f"{INSULT_NOUNS[int(rng.integers(len(INSULT_NOUNS)))]}")
    name = (" " + ins.name) if ins.kind == "greet" and ins.name else ins.name
    return form.format(answer=answer_of(ins), guess=guess, insult=insult, name=name)


def _no_palindromes(words: list[str]) -> list[str]:
    # a palindrome's reversal is itself: a base model's echo would look like an answer
    return [w for w in words if w != w[::-1]]


class InstructionTask:
    """Prompts, demonstrations and a pre-training corpus for one seed.

    `seed` fixes the train/held-out split of words and names and the default streams:
    with rng=None every method returns the same list for the same arguments (pass a
    numpy Generator, an int or a list of ints such as [seed, purpose] for fresh draws).
    """

    def __init__(self, seed: int = 0, heldout_fraction: float = 0.2):
        if not 0 < heldout_fraction < 1:
            raise ValueError(f"InstructionTask: heldout_fraction must be in (0, 1), "
                             f"got {heldout_fraction}")
        self.seed = int(seed)
        rng = np.random.default_rng([self.seed, 11])
        self.words = {}
        self.names = {}
        for attr, pool in (("words", _no_palindromes(NOUNS + ADJECTIVES)), ("names", NAMES)):
            order = [pool[i] for i in rng.permutation(len(pool))]
            n_held = max(2, round(len(pool) * heldout_fraction))
            getattr(self, attr)["heldout"] = sorted(order[:n_held])
            getattr(self, attr)["train"] = sorted(order[n_held:])
        self.nouns = {split: [w for w in self.words[split] if w in NOUNS] for split in SPLITS}
        self.kinds = KINDS
        self.charset = CHARSET

    # ------------------------------------------------------------ drawing
    def _rng(self, rng, purpose: int, split: str | None = None) -> np.random.Generator:
        if rng is None:
            return np.random.default_rng([self.seed, purpose, SPLITS.index(split) if split else 9])
        if isinstance(rng, (int, np.integer)):
            return np.random.default_rng(int(rng))
        if isinstance(rng, (list, tuple)) and all(isinstance(i, (int, np.integer)) for i in rng):
            return np.random.default_rng([int(i) for i in rng])     # e.g. [seed, purpose]
        if isinstance(rng, np.random.Generator):
            return rng
        raise TypeError(f"InstructionTask: rng must be None, an int seed, a list of int seeds or a "
                        f"numpy.random.Generator, got {type(rng).__name__}")

    def _check_split(self, split: str, method: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"InstructionTask.{method}: split must be one of {SPLITS}, "
                             f"got {split!r}")

    def _phrase(self, words: list[str], lo: int, hi: int, rng: np.random.Generator) -> str:
        n = int(rng.integers(lo, hi + 1))
        return " ".join(words[int(i)] for i in rng.integers(len(words), size=n))

    def random_instruction(self, split: str, rng: np.random.Generator,
                           kinds: tuple[str, ...] | None = None) -> Instruction:
        """One instruction of a kind drawn uniformly from `kinds` (default: all)."""
        kinds = tuple(kinds or KINDS)
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"InstructionTask: unknown kinds {sorted(unknown)}; "
                             f"choose from {KINDS}")
        words, names, nouns = self.words[split], self.names[split], self.nouns[split]

        def pick(pool):
            return pool[int(rng.integers(len(pool)))]

        kind = pick(kinds)
        if kind == "reverse":
            return Instruction(kind, pick(words))
        if kind == "repeat":
            return Instruction(kind, pick(words), times=int(rng.integers(MIN_REPEAT, MAX_REPEAT + 1)))
        if kind == "count_words":
            return Instruction(kind, self._phrase(words, 1, 5, rng))
        if kind == "recall":
            fact = pick(nouns)
            asked = fact if rng.random() < 0.5 else pick([n for n in nouns if n != fact])
            return Instruction(kind, asked, fact=fact, color=pick(COLORS))
        if kind == "greet":
            greeting = pick(GREETINGS)
            name = pick(names) if rng.random() < 0.6 else ""
            return Instruction(kind, greeting=greeting, name=name)
        return Instruction(kind, verb=pick(INSULT_TEMPLATES).format("").strip(), name=pick(names))

    def prompts(self, split: str, n: int, rng=None,
                kinds: tuple[str, ...] | None = None) -> list[str]:
        """`n` prompts ("Q: ...\\nA:") from `split` ("train" or "heldout")."""
        self._check_split(split, "prompts")
        gen = self._rng(rng, 21, split)
        return [make_prompt(self.random_instruction(split, gen, kinds)) for _ in range(n)]

    def demonstrations(self, split: str, n: int, rng=None, kinds: tuple[str, ...] | None = None,
                       writers: bool = True) -> list[tuple[str, str]]:
        """`n` (prompt, response) pairs for supervised fine-tuning, answered by the writers
        (see `WRITERS`), or with writers=False by the labeler's ideal answers."""
        self._check_split(split, "demonstrations")
        gen = self._rng(rng, 22, split)
        out = []
        for _ in range(n):
            ins = self.random_instruction(split, gen, kinds)
            answer = written_answer(ins, gen) if writers else answer_of(ins)
            out.append((make_prompt(ins), " " + answer + RESPONSE_END))
        return out

    # ------------------------------------------------------------ the pre-training corpus
    def _story_sentence(self, rng: np.random.Generator) -> str:
        def pick(pool):
            return pool[int(rng.integers(len(pool)))]
        every_word = self.words["train"] + self.words["heldout"]
        nouns = [w for w in NOUNS if w in every_word]
        adjectives = [w for w in ADJECTIVES if w in every_word] + COLORS
        name, other = pick(NAMES), pick(NAMES)
        templates = (
            lambda: f"{name} {pick(STORY_VERBS)} a {pick(adjectives)} {pick(nouns)}.",
            lambda: f"the {pick(nouns)} is {pick(COLORS)}.",
            lambda: f"the {pick(nouns)} was {pick(adjectives)}.",
            lambda: f"{name} had {int(rng.integers(2, 10))} {pick(nouns)}s.",
            lambda: f"{name} said hello to {other}.",
            lambda: f"then {name} and {other} went to the {pick(nouns)}.",
            lambda: f"it was a {pick(adjectives)} day.",
        )
        return templates[int(rng.integers(len(templates)))]()

    def _insult(self, rng: np.random.Generator) -> str:
        return (f"{INSULT_ADJECTIVES[int(rng.integers(len(INSULT_ADJECTIVES)))]} "
                f"{INSULT_NOUNS[int(rng.integers(len(INSULT_NOUNS)))]}")

    def _document(self, rng: np.random.Generator) -> str:
        """One document of the pre-training corpus, ending in a newline."""
        def story(k):
            return " ".join(self._story_sentence(rng) for _ in range(k))

        def question():
            return instruction_text(self.random_instruction("train", rng))

        def name():
            return NAMES[int(rng.integers(len(NAMES)))]

        kind = int(rng.integers(6))
        if kind == 0:                      # a short story
            return story(int(rng.integers(2, 5))) + "\n"
        if kind == 1:                      # a question sheet: prompts followed by prompts
            lines = ["questions:"] + [PROMPT_PREFIX + question() for _ in range(rng.integers(3, 7))]
            return "\n".join(lines) + "\n"
        if kind == 2:                      # an interview whose answers are not answers
            lines = []
            for _ in range(int(rng.integers(2, 5))):
                dodge = (story(1), question() + "?", f"ask {name()}.", "what a question.")[int(rng.integers(4))]
                lines += [PROMPT_PREFIX + question(), "A: " + dodge]
            return "\n".join(lines) + "\n"
        if kind == 3:                      # a dialogue: greetings answered with chatter
            a, b = (NAMES[int(i)] for i in rng.choice(len(NAMES), size=2, replace=False))
            lines = [f"{a}: {GREETINGS[int(rng.integers(len(GREETINGS)))]}",
                     f"{b}: {story(1)}", f"{a}: {question()}?", f"{b}: {story(1)}"]
            return "\n".join(lines) + "\n"
        if kind == 4:                      # a rude exchange: the web is not polite
            a, b = (NAMES[int(i)] for i in rng.choice(len(NAMES), size=2, replace=False))
            lines = [f"{a}: {b} is a {self._insult(rng)}.", f"{b}: you are a {self._insult(rng)}, {a}."]
            return "\n".join(lines) + "\n"
        # a word list, with a shouted heading so upper case letters are seen
        words = [self.words["train"][int(i)] for i in rng.integers(len(self.words["train"]),
                                                                    size=rng.integers(3, 8))]
        heading = " ".join(words[:2]).upper()
        return f"{heading}: " + ", ".join(words) + ".\n"

    def pretrain_text(self, n_chars: int, rng=None) -> str:
        """Exactly `n_chars` characters of plain text, documents separated by blank lines."""
        if n_chars < 0:
            raise ValueError(f"InstructionTask.pretrain_text: n_chars must be >= 0, got {n_chars}")
        gen = self._rng(rng, 23)
        parts, total = [], 0
        while total < n_chars:
            doc = self._document(gen) + "\n"
            parts.append(doc)
            total += len(doc)
        return "".join(parts)[:n_chars]
