"""The `minigrad` command: every subcommand once, in a fast configuration, on the built-in data.

Checkpoints are checked against answers computed here independently: a reloaded model gives
bit-identical outputs, greedy sampling equals an argmax loop written out in the test (no KV
cache, no carried RNN state), BERT's filled blank is the argmax over words of its logits, and
a short run of training moves the validation loss from ln(V) (a fresh model knows nothing)
clearly downwards.
"""
import importlib.util
import json
import math
import shutil

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, viz
from minigrad_tutorials import recipes
from minigrad import io as mgio
from minigrad_tutorials.cli import build_parser, main

LM_KINDS = ["rnn", "lstm", "gru", "gpt"]
FAST = ["--size", "tiny", "--iters", "4", "--eval-interval", "2", "--sample-tokens", "8"]


def _need_model(kind):
    """BERT and BART are optional modules of the zoo that may not be in this checkout yet."""
    module = {"bert": "minigrad_models.bert", "bart": "minigrad_models.bart"}.get(kind)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not in this checkout, so `minigrad train {kind}` cannot run")


@pytest.fixture(autouse=True)
def _no_real_corpora(monkeypatch):
    # the commands must work with nothing but the package: no $MINIGRAD_DATA
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)


# -- help and usage errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["tour"], ["train"], ["sample"], ["graph"], ["rlhf"], ["bench"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(command + ["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: minigrad")
    if command == ["train"]:
        for kind in recipes.KINDS:
            assert kind in out
        for flag in ("--corpus", "--size", "--iters", "--device", "--out"):
            assert flag in out


def test_train_kinds_match_the_zoo():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    kind_action = next(a for a in train._actions if a.dest == "kind")
    assert tuple(kind_action.choices) == recipes.KINDS


@pytest.mark.parametrize("flags, budget", [([], "quick"), (["--fast"], "fast"), (["--full"], "full")])
def test_tour_flags_choose_the_budget(flags, budget, tmp_path, capsys, monkeypatch):
    """No flag is the quick budget; the mode is said before anything runs."""
    from minigrad_tutorials import tour as tour_module

    calls = []

    def fake_tour(out, budget, lessons, data, verbose, threads):
        calls.append(budget)
        return tour_module.TourReport(tmp_path / "index.html", tmp_path / "README.md", [])

    monkeypatch.setattr(tour_module, "tour", fake_tour)
    assert main(["tour", "--out", str(tmp_path)] + flags) == 0
    assert calls == [budget]
    assert capsys.readouterr().out.startswith(f"{budget} mode: ")


def test_tour_threads_flag_reaches_the_tour_and_a_bad_count_is_one_line(tmp_path, capsys, monkeypatch):
    from minigrad_tutorials import autothreads
    from minigrad_tutorials import tour as tour_module

    calls = []
    monkeypatch.setattr(tour_module, "tour", lambda **kw: calls.append(kw["threads"]) or tour_module.TourReport(
        tmp_path / "index.html", tmp_path / "README.md", []))
    assert main(["tour", "--out", str(tmp_path), "--threads", "1"]) == 0 and calls == [1]
    monkeypatch.undo()
    monkeypatch.setattr(autothreads, "_chosen", None)
    monkeypatch.setenv("MINIGRAD_THREADS", "many")
    assert main(["tour", "--out", str(tmp_path), "--lesson", "1"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "minigrad tour: MINIGRAD_THREADS: the thread count must be a whole number >= 1, got 'many'")


def test_tour_fast_and_full_together_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["tour", "--fast", "--full"])
    assert exit_.value.code == 2
    assert "--full: not allowed with argument --fast" in capsys.readouterr().err


def test_unknown_kind_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "transformerxl"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_missing_corpus_says_where_it_looked(tmp_path, capsys):
    code = main(["train", "gpt", "--corpus", "no_such_corpus", "--out", str(tmp_path / "ck")] + FAST)
    err = capsys.readouterr().err
    assert code == 2
    assert "no_such_corpus" in err and "MINIGRAD_DATA" in err and "--corpus builtin" in err
    assert not (tmp_path / "ck").exists()


def test_corpus_from_a_path(tmp_path):
    text = "abcabcabd " * 300
    path = tmp_path / "tiny.txt"
    path.write_text(text)
    corpus = recipes.load_corpus(str(path), "tiny")
    assert corpus.text == text and corpus.source == str(path.resolve())
    with pytest.raises(ValueError, match="only 10 characters"):
        (tmp_path / "short.txt").write_text("0123456789")
        recipes.load_corpus(str(tmp_path / "short.txt"), "tiny")


@pytest.mark.skipif(backend.cuda_is_available(), reason="this machine has a GPU, so --device cuda is valid")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    code = main(["train", "gpt", "--device", "cuda", "--out", str(tmp_path / "ck")] + FAST)
    assert code == 2
    assert "--device cuda" in capsys.readouterr().err


def test_sample_from_a_missing_checkpoint(tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(tmp_path / "nothing")]) == 2
    assert "minigrad train" in capsys.readouterr().err


def test_sample_refuses_a_folder_that_is_not_a_checkpoint(tmp_path, capsys):
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_text(json.dumps({"model_type": "gpt2"}))
    mgio.save({"w": np.zeros(2, np.float32)}, tmp_path / "model.safetensors")
    assert main(["sample", "--checkpoint", str(tmp_path)]) == 2
    assert "not a minigrad checkpoint" in capsys.readouterr().err


# -- train, then sample, through the command line -----------------------------------------------------
@pytest.mark.parametrize("kind", recipes.KINDS)
def test_train_then_sample(kind, tmp_path, capsys):
    _need_model(kind)
    out = tmp_path / kind
    assert main(["train", kind, "--out", str(out)] + FAST) == 0
    printed = capsys.readouterr().out
    assert f"saved {out}" in printed and f"minigrad sample --checkpoint {out}" in printed
    resumable = {"training_state.safetensors"} if kind in LM_KINDS else set()  # what --resume continues from
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "tokenizer.json"} | resumable
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == kind and config["size"] == "tiny" and config["corpus"]["spec"] == "builtin"
    assert math.isfinite(config["results"]["val_loss"])
    assert not any(p.suffix in (".pt", ".pkl", ".bin") for p in out.iterdir())

    prompt = {"bert": "the [MASK] sees the cat .", "bart": "The c_t sees the d_g."}.get(kind, "The ")
    assert main(["sample", "--checkpoint", str(out), "--prompt", prompt, "--tokens", "12", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    if kind in ("bert", "bart"):
        assert text.startswith(f"prompt: {prompt}\n")
    else:
        assert text.startswith(prompt) and len(text.rstrip("\n")) >= len(prompt) + 1


@pytest.mark.parametrize("kind", ["gpt", "lstm", "ngram"])
def test_sample_rejects_characters_the_model_never_saw(kind, tmp_path, capsys):
    trained = recipes.train(kind, "builtin", size="tiny", iters=1, eval_interval=1, eval_iters=1, sample_tokens=0,
                        log=lambda line: None)
    recipes.save(trained, tmp_path)
    assert main(["sample", "--checkpoint", str(tmp_path), "--prompt", "The \u2603"]) == 2
    err = capsys.readouterr().err
    assert "\u2603" in err or "U+2603" in err


# -- what the checkpoint holds ------------------------------------------------------------------------
def _quiet_train(kind, **kw):
    settings = dict(size="tiny", iters=3, eval_interval=3, eval_iters=1, sample_tokens=0, seed=0)
    settings.update(kw)
    return recipes.train(kind, "builtin", log=lambda line: None, **settings)


def _lm_logits(trained, ids):
    with mg.no_grad():
        out = trained.model(np.asarray([ids], dtype=np.int64))
    logits = out[0]
    return logits.numpy()[0, -1]


@pytest.mark.parametrize("kind", LM_KINDS)
def test_checkpoint_round_trip_and_greedy_sampling(kind, tmp_path):
    trained = _quiet_train(kind)
    trained.model.eval()
    recipes.save(trained, tmp_path)
    loaded = recipes.load(tmp_path)
    assert loaded.tokenizer.itos == trained.tokenizer.itos
    assert loaded.config["model"] == trained.config["model"]
    ids = trained.tokenizer.encode("The cat sees ")
    np.testing.assert_array_equal(_lm_logits(loaded, ids), _lm_logits(trained, ids))

    # greedy: the argmax chain, re-reading the whole sequence each step (no cache, no carried state)
    prompt, steps = "The ", 12
    expected = trained.tokenizer.encode(prompt)
    for _ in range(steps):
        expected.append(int(_lm_logits(trained, expected).argmax()))
    greedy = recipes.sample(loaded, prompt, tokens=steps, temperature=0)
    assert greedy == trained.tokenizer.decode(expected)

    a = recipes.sample(loaded, prompt, tokens=30, temperature=1.0, seed=3)
    assert a == recipes.sample(loaded, prompt, tokens=30, temperature=1.0, seed=3)
    assert a != recipes.sample(loaded, prompt, tokens=30, temperature=1.0, seed=4)


def test_top_k_1_is_greedy(tmp_path):
    loaded = _quiet_train("lstm")
    assert recipes.sample(loaded, "A", tokens=20, temperature=1.5, top_k=1, seed=7) == \
        recipes.sample(loaded, "A", tokens=20, temperature=0)


def test_training_learns_from_ln_v(tmp_path):
    """A fresh GPT (weights ~ N(0, 0.02)) predicts nearly uniformly: its loss is ln(V). Training
    the tiny preset for 80 steps must take the held-out loss well below it."""
    trained = _quiet_train("gpt", iters=80, eval_interval=80, eval_iters=4)
    val = trained.history["val_loss"]
    ln_v = math.log(trained.tokenizer.vocab_size)
    assert abs(val[0] - ln_v) < 0.05
    assert val[-1] < ln_v - 0.8


def test_ngram_checkpoint_refits_the_same_model(tmp_path):
    trained = _quiet_train("ngram")
    recipes.save(trained, tmp_path)
    loaded = recipes.load(tmp_path)
    for context in ["", "T", "th", "e c", "sees"]:
        np.testing.assert_allclose(loaded.model.probs(context), trained.model.probs(context), rtol=0, atol=0)
    # a 3-gram of English-like text beats the letter frequencies of the same text (its unigram entropy)
    text = recipes.load_corpus("builtin", "tiny").text
    counts = np.unique(list(text), return_counts=True)[1]
    p = counts / counts.sum()
    unigram_entropy = float(-(p * np.log(p)).sum())
    assert loaded.config["results"]["val_loss"] < unigram_entropy - 0.8
    assert recipes.sample(loaded, "The ", 40, seed=1) == recipes.sample(trained, "The ", 40, seed=1)
    with pytest.raises(ValueError, match="not supported"):
        recipes.sample(loaded, "The ", 10, temperature=0.5)


def test_bert_fills_the_blank_with_its_most_likely_word(tmp_path):
    _need_model("bert")
    trained = _quiet_train("bert")
    recipes.save(trained, tmp_path)
    loaded = recipes.load(tmp_path)
    tok = loaded.tokenizer
    prompt = "the [MASK] sees the cat ."
    ids = np.asarray([tok.encode(prompt)])
    with mg.no_grad():
        logits = loaded.model(ids, attention_mask=np.ones_like(ids))[0].numpy()[0]
        before = trained.model.eval()(ids, attention_mask=np.ones_like(ids))[0].numpy()[0]
    np.testing.assert_array_equal(logits, before)
    blank = int(np.flatnonzero(ids[0] == tok.mask_token_id)[0])
    words = [i for t, i in tok.vocab.items() if not (t.startswith("[") and t.endswith("]"))]
    best = tok.ids_to_tokens[max(words, key=lambda i: logits[blank, i])]
    out = recipes.sample(loaded, prompt, temperature=0).splitlines()
    assert out[0] == f"the {best} sees the cat."  # decode joins the full stop to its word, as BERT's does
    assert out[1].startswith(f"blank 1: {best} ")
    with pytest.raises(ValueError, match="no blank"):
        recipes.sample(loaded, "the cat sees the dog .")


def test_bart_checkpoint_round_trip(tmp_path):
    _need_model("bart")
    trained = _quiet_train("bart")
    recipes.save(trained, tmp_path)
    loaded = recipes.load(tmp_path)
    prompt = "The c_t sees the d_g."
    assert recipes.sample(loaded, prompt) == recipes.sample(trained, prompt)
    out = recipes.sample(loaded, prompt)
    assert set(out) <= set(loaded.tokenizer.itos[4:])  # characters only: no specials leak into the text


# -- graph ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("example", ["lookup", "attention", "mlp", "gpt"])
def test_graph_draws_each_example(example, tmp_path, capsys):
    target = tmp_path / f"{example}.svg"
    assert main(["graph", example, "-o", str(target)]) == 0
    written = capsys.readouterr().out.strip().removeprefix("wrote ")
    if viz.renderers():
        assert written == str(target)
        svg = target.read_text()
        assert "<svg" in svg and "</svg>" in svg
    else:  # without Graphviz the DOT source is written instead, and says so
        assert written.endswith(".dot") and "digraph" in open(written).read()


def test_graph_dot_source_and_bad_suffix(tmp_path, capsys):
    assert main(["graph", "mlp", "-o", str(tmp_path / "mlp.dot")]) == 0
    source = (tmp_path / "mlp.dot").read_text()
    assert source.lstrip().startswith("digraph") and "fc1" in source and "loss" in source
    assert main(["graph", "mlp", "-o", str(tmp_path / "mlp.jpeg")]) == 2
    assert "unknown format '.jpeg'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["gpt", "gru"])
def test_graph_of_a_checkpoint_names_its_parameters(kind, tmp_path, capsys):
    trained = _quiet_train(kind, iters=1, eval_interval=1)
    recipes.save(trained, tmp_path / "ck")
    assert main(["graph", "--checkpoint", str(tmp_path / "ck"), "-o", str(tmp_path / "g.dot")]) == 0
    source = (tmp_path / "g.dot").read_text()
    names = [n for n, p in trained.model.named_parameters()]
    assert all(n in source for n in names), [n for n in names if n not in source]
    assert "CrossEntropy" in source and "loss" in source


def test_graph_needs_exactly_one_subject(tmp_path, capsys):
    assert main(["graph"]) == 2
    assert "one of the two" in capsys.readouterr().err
    trained = _quiet_train("ngram")
    recipes.save(trained, tmp_path)
    assert main(["graph", "--checkpoint", str(tmp_path)]) == 2
    assert "no computation graph" in capsys.readouterr().err


# -- rlhf and bench -------------------------------------------------------------------------------------
def test_rlhf_passes_its_options_to_the_pipeline(tmp_path, capsys, monkeypatch):
    """The command's wiring, with a stand-in for the pipeline (the real one takes minutes)."""
    if importlib.util.find_spec("minigrad_models.instructgpt.pipeline") is None:
        pytest.skip("models/instructgpt/pipeline.py (pipeline.run) is not in this checkout yet")
    from minigrad_models.instructgpt import pipeline

    calls = []

    def fake_run(out_dir, fast=False, seed=0, progress=True):
        calls.append(dict(out_dir=out_dir, fast=fast, seed=seed, progress=progress))
        return {"markdown": "| policy | reward |\n|---|---|\n| PPO | 0.9 |", "paths": {"table_md": f"{out_dir}/t.md"}}

    monkeypatch.setattr(pipeline, "run", fake_run)
    out = str(tmp_path / "rlhf")
    assert main(["rlhf", "--fast", "--no-progress", "--seed", "3", "--out", out]) == 0
    assert calls == [dict(out_dir=out, fast=True, seed=3, progress=False)]
    printed = capsys.readouterr().out
    assert "| PPO | 0.9 |" in printed and f"{out}/t.md" in printed


@pytest.mark.slow
def test_rlhf_fast_for_real(tmp_path):
    """The whole InstructGPT pipeline in its fast mode (about two minutes on a busy 2-core machine):
    run it with MINIGRAD_SLOW_TESTS=1."""
    import os

    if not os.environ.get("MINIGRAD_SLOW_TESTS"):
        pytest.skip("slow (minutes): set MINIGRAD_SLOW_TESTS=1 to run the real InstructGPT pipeline")
    if importlib.util.find_spec("minigrad_models.instructgpt.pipeline") is None:
        pytest.skip("models/instructgpt/pipeline.py (pipeline.run) is not in this checkout yet")
    assert main(["rlhf", "--fast", "--no-progress", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "rlhf_table.md").is_file()


def test_no_pickle_in_a_checkpoint_folder(tmp_path):
    """Each file of a checkpoint is JSON or safetensors (its header is JSON): nothing to unpickle."""
    trained = _quiet_train("gru")
    recipes.save(trained, tmp_path)
    for name in ("config.json", "tokenizer.json"):
        json.loads((tmp_path / name).read_text())
    assert mgio.load_metadata(tmp_path / "model.safetensors") == {"kind": "gru"}
    shutil.rmtree(tmp_path)


def test_bert_default_prompt_fits_the_model():
    """The suggested prompt is a one-line sentence the model can read whole (found on tiny Shakespeare,
    whose first validation sentences are longer than a tiny BERT's 32 positions)."""
    _need_model("bert")
    from minigrad.data import WordPieceTokenizer
    from minigrad_tutorials.recipes.bert import _default_prompt

    words = "the a king queen speaks sleeps long very".split()
    tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)
    long = " ".join(["the very long king speaks"] * 8)
    prompt = _default_prompt([long, "the king\nspeaks long", "the queen sleeps long"], tok, max_len=16)
    assert prompt == "the queen [MASK] long"  # the middle one of its longer words


# -- damaged or mismatched checkpoint folders: one line that names the file ------------------------------
@pytest.fixture(scope="module")
def gpt_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt")
    recipes.save(_quiet_train("gpt", iters=1, eval_interval=1), folder)
    return folder


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json"])
def test_a_truncated_json_file_is_named(gpt_checkpoint, tmp_path, capsys, name):
    shutil.copytree(gpt_checkpoint, tmp_path / "ck")
    text = (tmp_path / "ck" / name).read_text()
    (tmp_path / "ck" / name).write_text(text[: len(text) // 2])   # cut short, as by a full disk
    assert main(["sample", "--checkpoint", str(tmp_path / "ck")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{name} is not valid JSON (line " in err and "cut short" in err


def test_a_config_of_another_kind_than_the_weights_is_named(gpt_checkpoint, tmp_path, capsys):
    shutil.copytree(gpt_checkpoint, tmp_path / "ck")
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    (tmp_path / "ck" / "config.json").write_text(json.dumps(dict(config, kind="rnn")))
    assert main(["sample", "--checkpoint", str(tmp_path / "ck")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "config.json says kind 'rnn', but model.safetensors holds the weights of a 'gpt' model" in err


def test_settings_that_do_not_fit_the_weights_are_one_line(gpt_checkpoint, tmp_path, capsys):
    """A config.json edited by hand: its sizes no longer match the weights (the kind still does)."""
    shutil.copytree(gpt_checkpoint, tmp_path / "ck")
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    config["model"]["n_embd"] *= 2
    (tmp_path / "ck" / "config.json").write_text(json.dumps(config))
    assert main(["sample", "--checkpoint", str(tmp_path / "ck")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "do not fit together" in err and "config.json (kind 'gpt')" in err


def test_bert_says_which_words_it_does_not_know(tmp_path):
    _need_model("bert")
    trained = _quiet_train("bert")
    out = recipes.sample(trained, "the cat [MASK] on the zyzzyva .", temperature=0).splitlines()
    assert "[UNK]" in out[0]   # shown where the word was, not dropped
    assert out[-1].startswith("note: not in this BERT's vocabulary, so read as [UNK]: zyzzyva")
    assert not any(line.startswith("note:") for line in recipes.sample(trained, "the [MASK] sees the cat .").splitlines())
