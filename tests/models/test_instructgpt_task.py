"""The InstructGPT toy world: answers worked by hand, the labeler's preferences, the splits,
the pre-training corpus that never answers."""
import re

import numpy as np
import pytest

from models.instructgpt import labeler
from models.instructgpt.labeler import edit_distance, hallucination, judge, prefer, rank, score
from models.instructgpt.task import (KINDS, InstructionTask, ideal_answer, ideal_response,
                                     parse_prompt)


@pytest.fixture(scope="module")
def task():
    return InstructionTask(seed=0)


def q(instruction):
    return f"Q: {instruction}\nA:"


@pytest.mark.parametrize("instruction, answer", [
    ("reverse cat", "tac"),
    ("reverse horse", "esroh"),
    ("upper red fox", "RED FOX"),
    ("sort banana", "aaabnn"),
    ("sort dog", "dgo"),
    ("count letters in apple", "5"),
    ("count words in red big fox", "3"),
    ("count words in owl", "1"),
    ("repeat cat 3 times", "cat cat cat"),
    ("repeat bee 2 times", "bee bee"),
    ("hello", "Hello! How can I help you?"),
    ("good evening, i am tom", "Hello tom! How can I help you?"),
])
def test_ideal_answers_worked_by_hand(instruction, answer):
    assert ideal_answer(q(instruction)) == answer
    assert ideal_response(q(instruction)) == " " + answer + "\n"


def test_unknown_prompts_are_rejected_with_the_format():
    with pytest.raises(ValueError, match=r"parse_prompt: expected 'Q: <instruction>\\nA:'"):
        parse_prompt("reverse cat")
    with pytest.raises(ValueError, match="matches no instruction template"):
        score(q("translate cat"), " chat\n")


def test_edit_distance_by_hand():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("tac", "tac") == 0
    assert edit_distance("tac", "cat") == 2


def candidates(prompt):
    """Plausible policy samples around the ideal one: (label, response)."""
    answer = ideal_answer(prompt)
    return [
        ("ideal", " " + answer + "\n"),
        ("junk suffix", " " + answer + " xq\n"),
        ("repeated", " " + " ".join([answer] * 3) + "\n"),
        ("never ends", " " + answer),
        ("kept talking", " " + answer + "\nQ: sort dog\nA: dgo\n"),
        ("pleasantry", " Sure! The answer is " + answer + "\n"),
        ("near miss", " " + answer[:-1] + "\n"),
        ("empty", "\n"),
        ("nonsense", " zzzz zzzz\n"),
        ("very long", " " + answer + " " + "and so on " * 6 + "\n"),
    ]


def test_the_exact_answer_ranks_first_for_every_kind(task):
    for split in ("train", "heldout"):
        for prompt in task.prompts(split, 70, rng=1):
            labels, responses = zip(*candidates(prompt))
            order = rank(prompt, list(responses))
            assert labels[order[0]] == "ideal", (prompt, [labels[i] for i in order])
            # strictly first: no other candidate ties with the ideal response
            best = score(prompt, responses[0])
            assert all(score(prompt, r) < best for r in responses[1:])


def test_junk_repetition_and_run_on_answers_score_below_the_clean_answer():
    prompt = q("reverse cat")
    clean = score(prompt, " tac\n")
    for junk in (" tac xq\n", " tac tac tac\n", " tac", " tac\nQ: sort dog\nA:",
                 " tac" + " tac" * 20 + "\n"):
        assert score(prompt, junk) < clean, junk
    # more repetition costs more
    assert score(prompt, " tac tac tac\n") < score(prompt, " tac tac\n") < clean
    # repetition itself costs, beyond length: same length, same words, one repeated
    count = q("count words in red fox")
    assert score(count, " 2 fox fox\n") < score(count, " 2 red fox\n")
    # ... but not the repetition an answer needs
    assert judge(q("repeat cat 3 times"), " cat cat cat\n").penalty == 0.0


def test_partial_credit_follows_edit_distance():
    prompt = q("reverse horse")                  # answer "esroh"
    s = [score(prompt, r) for r in (" esroh\n", " esroy\n", " esrxy\n", " qqqqq\n")]
    assert s[0] > s[1] > s[2] > s[3]
    assert s[1] < 0.5 < s[0]                     # a near miss never reaches a right answer


def test_politeness_counts_only_where_it_is_asked_for():
    greet = q("hi, i am tom")
    polite, curt = " Hello tom! How can I help you?\n", " hi tom\n"
    assert score(greet, polite) > score(greet, curt)
    assert score(greet, " Hi tom! How can I help you?\n") > score(greet, curt)
    # correctness before politeness: a polite greeting that forgets the name loses
    assert score(greet, " Hello! How can I help you?\n") < score(greet, curt)
    # on a task, the pleasantry is only extra length
    task_prompt = q("reverse cat")
    assert score(task_prompt, " tac\n") > score(task_prompt, " Sure! Happy to help: tac\n")
    assert judge(task_prompt, " Sure! How can I help? tac\n").politeness == 0.0


def test_hallucination_flags_invented_content_only():
    assert hallucination(q("reverse cat"), " tax\n")            # an x the word does not have
    assert not hallucination(q("reverse cat"), " tac\n")
    assert not hallucination(q("reverse cat"), " act\n")        # wrong, but from its letters
    assert not hallucination(q("reverse cat"), " Sure, the answer is tac\n")
    assert hallucination(q("upper red fox"), " RED DOG\n")
    assert not hallucination(q("upper red fox"), " red fox\n")  # wrong case, same words
    assert hallucination(q("hi, i am tom"), " Hello ann! How can I help you?\n")
    assert hallucination(q("hello"), " Hello tom!\n")           # nobody said a name
    assert not hallucination(q("hi, i am tom"), " Hello tom! How can I help you?\n")
    assert not hallucination(q("count letters in apple"), " 6\n")   # wrong count, not invented
    assert hallucination(q("count letters in apple"), " 5 pears\n")
    assert hallucination(q("repeat cat 2 times"), " cat cat 7\n")
    assert not hallucination(q("repeat cat 2 times"), " cat cat\n")
    # and it costs reward: of two equally wrong answers the invented one loses
    assert score(q("reverse cat"), " tax\n") < score(q("reverse cat"), " tat\n")  # 1 edit each


def test_rank_is_deterministic_and_breaks_ties_by_length_then_text():
    prompt = q("reverse cat")
    responses = [" zzz\n", " yyy\n", " zz\n", " zzz\n"]
    order = rank(prompt, responses)
    assert order == rank(prompt, responses)
    # equal scores: " yyy" and " zzz" have the same distance to "tac"
    assert score(prompt, " yyy\n") == score(prompt, " zzz\n")
    assert order.index(1) < order.index(0) < order.index(3)
    assert prefer(prompt, " tac\n", " tca\n") == 0 and prefer(prompt, " tca\n", " tac\n") == 1
    assert prefer(prompt, " zzz\n", " zzz\n") == 0


def test_heldout_prompts_use_no_word_seen_in_training_prompts(task):
    train_words = {w for p in task.prompts("train", 2000) for w in parse_prompt(p).words}
    train_words |= {w for p, _ in task.demonstrations("train", 2000)
                    for w in parse_prompt(p).words}
    held = [parse_prompt(p) for p in task.prompts("heldout", 500)]
    held_words = {w for ins in held for w in ins.words}
    assert held_words and train_words.isdisjoint(held_words)
    assert {ins.kind for ins in held} == set(KINDS)
    assert set(task.words["train"]).isdisjoint(task.words["heldout"])
    assert set(task.names["train"]).isdisjoint(task.names["heldout"])


def test_demonstrations_are_ideal_short_ascii_and_deterministic(task):
    demos = task.demonstrations("train", 300)
    for prompt, response in demos:
        assert response == ideal_response(prompt)
        assert len(prompt + response) <= 96
        assert set(prompt + response) <= set(task.charset)
    assert {parse_prompt(p).kind for p, _ in demos} == set(KINDS)
    assert demos == InstructionTask(seed=0).demonstrations("train", 300)
    assert demos != InstructionTask(seed=1).demonstrations("train", 300)
    assert task.demonstrations("train", 5, rng=np.random.default_rng(4)) != demos[:5]
    assert task.prompts("heldout", 50) == InstructionTask(0).prompts("heldout", 50)
    with pytest.raises(ValueError, match="split must be one of"):
        task.prompts("test", 3)


def test_pretraining_text_shows_prompts_but_never_their_answers(task):
    text = task.pretrain_text(20000)
    assert len(text) == 20000 and set(text) <= set(task.charset)
    assert text == InstructionTask(seed=0).pretrain_text(20000)
    assert text != InstructionTask(seed=1).pretrain_text(20000)
    asked = re.findall(r"Q: ([^\n]*)\nA:([^\n]*)", text)
    assert len(asked) > 50                                 # instructions do appear ...
    for instruction, continuation in asked:
        prompt = q(instruction)
        assert continuation.strip() != ideal_answer(prompt)   # ... never with their answer
        assert score(prompt, continuation + "\n") < 0.6
    kinds_seen = {parse_prompt(q(line)).kind for line, _ in asked}
    assert kinds_seen == set(KINDS)
    assert "questions:\nQ: " in text                      # lists of prompts followed by prompts
    assert any(c.isupper() for c in text) and any(c.isdigit() for c in text)


def test_labeler_ignores_anything_but_text():
    # the labeler is a pure function of (prompt, response): no state, no model
    prompt = q("sort dog")
    first = [score(prompt, r) for r in (" dgo\n", " god\n")]
    assert first == [score(prompt, r) for r in (" dgo\n", " god\n")]
    with pytest.raises(TypeError, match="must be a str"):
        score(prompt, None)
    assert labeler.RESPONSE_END == "\n"
