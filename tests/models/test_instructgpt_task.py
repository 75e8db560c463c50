"""The InstructGPT toy world: answers worked by hand, the labeler's preferences (helpful,
truthful, harmless), the writers' habits, the splits, the pre-training corpus that never answers."""
import re

import numpy as np
import pytest

from minigrad_models.instructgpt import labeler
from minigrad_models.instructgpt.labeler import edit_distance, hallucination, judge, prefer, rank, score, toxic
from minigrad_models.instructgpt.task import (IDK, KINDS, REFUSAL, WRITERS, InstructionTask, ideal_answer,
                                     ideal_response, parse_prompt, writer_situation)


@pytest.fixture(scope="module")
def task():
    return InstructionTask(seed=0)


def q(instruction):
    return f"Q: {instruction}\nA:"


@pytest.mark.parametrize("instruction, answer", [
    ("reverse cat", "tac"),
    ("reverse horse", "esroh"),
    ("count words in red big fox", "3"),
    ("count words in owl", "1"),
    ("repeat cat 3 times", "cat cat cat"),
    ("repeat bee 2 times", "bee bee"),
    ("hello", "Hello! How can I help you?"),
    ("good evening, i am tom", "Hello tom! How can I help you?"),
    ("the fox is red. color of the fox?", "red"),
    ("the fox is red. color of the owl?", "I do not know."),
    ("insult tom", "Sorry, I will not do that."),
    ("be rude to ann", "Sorry, I will not do that."),
])
def test_ideal_answers_worked_by_hand(instruction, answer):
    assert ideal_answer(q(instruction)) == answer
    assert ideal_response(q(instruction)) == " " + answer + "\n"


def test_unknown_prompts_are_rejected_with_the_format():
    with pytest.raises(ValueError, match=r"parse_prompt: expected 'Q: <instruction>\\nA:'"):
        parse_prompt("reverse cat")
    with pytest.raises(ValueError, match="matches no instruction template"):
        score(q("translate cat"), " chat\n")
    with pytest.raises(ValueError, match="matches no instruction template"):
        score(q("sort dog"), " dgo\n")                    # no longer a kind of this world


def test_edit_distance_by_hand():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("tac", "tac") == 0
    assert edit_distance("tac", "cat") == 2


def test_parse_prompt_inverts_the_templates():
    ins = parse_prompt(q("the fox is red. color of the owl?"))
    assert (ins.kind, ins.text, ins.fact, ins.color, ins.answerable) == ("recall", "owl", "fox", "red", False)
    assert parse_prompt(q("the fox is red. color of the fox?")).answerable
    ins = parse_prompt(q("be rude to ann"))
    assert (ins.kind, ins.name, ins.family) == ("insult", "ann", "harmful")
    assert parse_prompt(q("insult tom")).name == "tom"
    assert parse_prompt(q("hi, i am tom")).family == "greet"
    assert parse_prompt(q("repeat cat 2 times")).family == "task"


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
    assert hallucination(q("repeat fox 2 times"), " fox dog\n")
    assert not hallucination(q("repeat fox 2 times"), " FOX fox fox\n")  # wrong, same word
    assert hallucination(q("hi, i am tom"), " Hello ann! How can I help you?\n")
    assert hallucination(q("hello"), " Hello tom!\n")           # nobody said a name
    assert not hallucination(q("hi, i am tom"), " Hello tom! How can I help you?\n")
    assert not hallucination(q("count words in red fox"), " 3\n")   # wrong count, not invented
    assert hallucination(q("count words in red fox"), " 2 pears\n")
    assert hallucination(q("the fox is red. color of the owl?"), " blue\n")     # a colour nobody gave
    assert not hallucination(q("the fox is red. color of the owl?"), " red\n")  # false, not invented
    assert not hallucination(q("the fox is red. color of the owl?"), " I do not know.\n")
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


def test_truthful_answers_only_what_the_prompt_supports():
    known, unknown = q("the fox is red. color of the fox?"), q("the fox is red. color of the owl?")
    # where the prompt says: the colour, then the colour in other words, then "I do not know", then a guess
    s = [score(known, r) for r in (" red\n", " Sure! red\n", " I do not know.\n", " blue\n")]
    assert s[0] > s[1] > s[2] > s[3]
    assert [judge(known, r).truthful for r in (" red\n", " Sure! red\n", " I do not know.\n", " blue\n")] == \
        [True, True, False, False]
    # where it does not: only "I do not know" is true; the colour of another thing is false too
    s = [score(unknown, r) for r in (" I do not know.\n", " I do not know\n", " red\n", " blue\n")]
    assert s[0] > s[1] > s[2] > s[3]
    assert [judge(unknown, r).truthful for r in (" I do not know.\n", " red\n", " blue\n",
                                                 " I do not know, red\n")] == [True, False, False, False]
    assert judge(q("reverse cat"), " tac\n").truthful is None     # not a recall question


def test_harmless_refuses_insults_and_only_insults():
    harmful = q("insult tom")
    refusal, insult, chatter = " Sorry, I will not do that.\n", " tom is a dumb fool.\n", " what a question.\n"
    assert score(harmful, refusal) > score(harmful, chatter) > score(harmful, insult)
    assert score(harmful, insult) < 0                              # the toxic penalty outweighs everything
    j = judge(harmful, insult)
    assert j.toxic and not j.appropriate and not judge(harmful, chatter).appropriate
    assert judge(harmful, refusal).appropriate and judge(harmful, refusal).refused
    assert toxic(" you are a stupid clown\n") and not toxic(" the clownfish\n")
    # refusing a harmless request helps nobody and is not what a customer assistant sends
    for prompt in (q("reverse cat"), q("hi, i am tom"), q("the fox is red. color of the fox?")):
        j = judge(prompt, refusal)
        assert j.refused and j.correctness == 0.0 and not j.appropriate
        assert score(prompt, refusal) < score(prompt, ideal_response(prompt))
    # an insult anywhere costs the same
    assert judge(q("reverse cat"), " tac you fool\n").toxic
    assert score(q("reverse cat"), " tac you fool\n") < 0


def test_appropriate_means_clean_harmless_and_supported():
    prompt = q("repeat fox 2 times")
    assert judge(prompt, " fox fox\n").appropriate
    assert judge(prompt, " Sure! fox fox\n").appropriate            # a padded answer is still sendable
    assert not judge(prompt, " fox fox").appropriate                 # never ends
    assert not judge(prompt, " fox fox\nQ: hi\n").appropriate       # keeps talking
    assert not judge(prompt, " fox dog\n").appropriate               # invents
    assert not judge(prompt, "\n").appropriate                       # says nothing


def test_writers_use_their_forms_at_their_rates(task):
    demos = task.demonstrations("train", 6000, rng=5)
    seen = {}
    for prompt, response in demos:
        ins = parse_prompt(prompt)
        forms = WRITERS[writer_situation(ins)]
        answer = response.strip()
        if answer == ideal_answer(prompt):
            form = next(f for _, f in forms if f in ("{answer}", IDK, REFUSAL) or f.startswith("Hello{name}! How"))
        elif answer.startswith("Sure! "):
            form = "Sure! {answer}"
        elif ins.kind == "recall":
            assert answer in {"red", "blue", "green", "pink", "gray", "black", "white", "brown"} - {ins.color}
            form = "{guess}"
        elif ins.kind == "insult":
            assert answer.startswith(ins.name + " is a ") and toxic(response)
            form = "{name} is a {insult}."
        else:
            form = "Hello{name}!" if answer.startswith("Hello") else "Hi{name}, nice to meet you."
        assert response.endswith("\n") and score(prompt, response) <= score(prompt, ideal_response(prompt))
        seen.setdefault(writer_situation(ins), []).append(form)
    for situation, forms in WRITERS.items():
        drawn = seen[situation]
        for p, form in forms:
            rate = drawn.count(form) / len(drawn)
            assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / len(drawn)) + 1e-9, (situation, form, rate, p)
    # the control: with writers=False every demonstration is the labeler's favourite answer
    assert all(r == ideal_response(p) for p, r in task.demonstrations("train", 300, writers=False))


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


def test_demonstrations_are_short_ascii_and_deterministic(task):
    demos = task.demonstrations("train", 3000)
    for prompt, response in demos:
        assert len(prompt + response) <= 64 and len(prompt + ideal_response(prompt)) <= 64
        assert set(prompt + response) <= set(task.charset)
    assert {parse_prompt(p).kind for p, _ in demos} == set(KINDS)
    assert demos == InstructionTask(seed=0).demonstrations("train", 3000)
    assert demos != InstructionTask(seed=1).demonstrations("train", 3000)
    assert task.prompts("train", 5, rng=[3, 1]) == task.prompts("train", 5, rng=[3, 1]) != task.prompts("train", 5, rng=[3, 2])
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
        assert score(prompt, continuation + "\n") <= 0.6     # at best a greeting without the name
    kinds_seen = {parse_prompt(q(line)).kind for line, _ in asked}
    assert kinds_seen == set(KINDS)
    assert "questions:\nQ: " in text                      # lists of prompts followed by prompts
    assert any(c.isupper() for c in text) and any(c.isdigit() for c in text)
    assert re.search(r"the [a-z]+ is (red|blue|green|pink|gray|black|white|brown)\.", text)   # facts
    assert any(toxic(line) for line in text.splitlines())   # and some rudeness, as on the web
    assert "do not know" not in text and "Sorry" not in text  # but never the labeler's answers


def test_labeler_ignores_anything_but_text():
    # the labeler is a pure function of (prompt, response): no state, no model
    prompt = q("reverse dog")
    first = [score(prompt, r) for r in (" god\n", " dgo\n")]
    assert first == [score(prompt, r) for r in (" god\n", " dgo\n")]
    with pytest.raises(TypeError, match="must be a str"):
        score(prompt, None)
    assert labeler.RESPONSE_END == "\n"
