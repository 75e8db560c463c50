"""`minigrad tour`: the lessons run in order, cell by cell, into one report.

Small hand-written lessons in tmp_path check the machinery (cells, failures, exit status, what
the report shows); one test runs the real tour in fast mode over every lesson in tutorials/
and checks that its index.html and README.md show every figure, graph and table each lesson
recorded.
"""
import html
import json
import os
import re
import textwrap
import time
from pathlib import Path

import pytest

import minigrad as mg
from minigrad_tutorials import tour as tour_module
from minigrad import viz
from minigrad_tutorials.cli import main
from minigrad_tutorials.report import markdown_table as _markdown_table
from minigrad_tutorials.tour import find_lessons, read_cells, tour

OK_LESSON = '''\
# %% [markdown]
# # A lesson that works
# Some words.

# %%
from __future__ import annotations
import os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from minigrad_tutorials.report import Lesson

lesson = Lesson("01_ok", "A lesson that works")

# %% [markdown]
# ## Numbers and a table

# %%
def area(side: NotDefinedAnywhere) -> float:   # fine only under the first cell's future import
    return side * side

lesson.metric("area of a 3-square", area(3))
lesson.metric("saw MINIGRAD_DATA", os.environ.get("MINIGRAD_DATA", "none"))
lesson.table([{"n": 1, "loss": 0.5}, {"n": 2, "loss": 0.25}], "losses", caption="loss against n")

# %%
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
lesson.figure(fig, "line", caption="a falling line")
print("printed by the lesson")
lesson.finish()
'''

BROKEN_LESSON = '''\
# %%
from minigrad_tutorials.report import Lesson
lesson = Lesson("02_broken", "A lesson that breaks")

# %%
x = 1
y = x / 0
lesson.finish()
'''


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.write_text(text)
    return path


@pytest.fixture
def lessons(tmp_path):
    root = tmp_path / "lessons"
    root.mkdir()
    _write(root, "01_ok.py", OK_LESSON)
    _write(root, "02_broken.py", BROKEN_LESSON)
    return root


def test_read_cells_splits_the_percent_format(lessons):
    cells = read_cells(lessons / "01_ok.py")
    assert [c.markdown for c in cells] == [True, False, True, False, False]
    assert [c.first_line for c in cells] == [0, 4, 14, 17, 25]
    assert cells[1].title == "A lesson that works"
    assert cells[3].title == cells[4].title == "Numbers and a table"
    assert "".join(c.source for c in cells) == OK_LESSON
    # a plain script without markers is one cell
    plain = _write(lessons, "plain.py", "x = 1\ny = 2\n")
    assert [(c.first_line, c.markdown) for c in read_cells(plain)] == [(0, False)]


def test_markdown_tables_escape_pipes():
    rows = [{"event": "P(a | .)", "p": 0.10312}, {"event": "P(b)", "p": 2, "note": "new column"}]
    assert _markdown_table(rows).splitlines() == [
        "| event | p | note |", "|---|---|---|", "| P(a \\| .) | 0.1031 |  |", "| P(b) | 2 | new column |"]


def test_find_lessons_in_order_and_by_number(lessons):
    assert [p.name for p in find_lessons(root=lessons)] == ["01_ok.py", "02_broken.py"]
    assert [p.name for p in find_lessons([2], root=lessons)] == ["02_broken.py"]
    with pytest.raises(ValueError, match=r"no lesson numbered 7 .* 1 \(01_ok\), 2 \(02_broken\)"):
        find_lessons([7], root=lessons)


def test_a_failing_lesson_is_reported_and_the_tour_goes_on(lessons, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))  # the tour must not pass it on without --data
    out = tmp_path / "report"
    report = tour(out=out, budget="fast", root=lessons, progress_bar=False, previews=False)
    ok, broken = report.results
    assert not ok.get("error")
    assert ok["metrics"] == {"area of a 3-square": 9, "saw MINIGRAD_DATA": "none"}
    assert (out / "01_ok" / "log.txt").read_text().strip() == "\n".join(
        [f"01_ok: fast budget; figures and tables go to {(out / '01_ok').resolve()}", "area of a 3-square: 9", "saw MINIGRAD_DATA: none", "", "loss against n", "| n | loss |", "|---|---|",
         "| 1 | 0.5 |", "| 2 | 0.25 |", "", "printed by the lesson"])

    assert report.failed == [broken]
    assert broken["error"] == "ZeroDivisionError: division by zero"
    # the traceback points at the lesson's own line 7 (y = x / 0), not at a cell-relative one
    assert re.search(r'02_broken\.py", line 7\b', broken["traceback"])
    assert "ZeroDivisionError" in (out / "02_broken" / "log.txt").read_text()

    page = (out / "index.html").read_text()
    assert "This lesson failed" in page and "division by zero" in page
    assert "<img src='01_ok/line.png'" in page and "href='01_ok/line.svg'" in page
    assert "<caption>loss against n</caption>" in page and "<td>0.25</td>" in page
    assert "<td>area of a 3-square</td><td>9</td>" in page
    readme = (out / "README.md").read_text()
    assert "[![a falling line](01_ok/line.png)](01_ok/line.svg)" in readme and "| 2 | 0.25 |" in readme
    assert "**This lesson failed:** `ZeroDivisionError: division by zero`" in readme
    summary = json.loads((out / "tour.json").read_text())
    assert [(s["dir"], s["error"]) for s in summary] == [("01_ok", None),
                                                         ("02_broken", "ZeroDivisionError: division by zero")]


def test_the_command_exits_non_zero_when_a_lesson_fails(lessons, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tour_module, "lessons_dir", lambda: lessons)
    assert main(["tour", "--fast", "--out", str(tmp_path / "a"), "--lesson", "1"]) == 0
    assert main(["tour", "--fast", "--out", str(tmp_path / "b")]) == 1
    captured = capsys.readouterr()
    assert "1 of 2 lessons failed: 02_broken" in captured.err
    assert "FAILED after" in captured.out and "y = x / 0" in captured.out
    assert main(["tour", "--lesson", "9", "--out", str(tmp_path / "c")]) == 2
    assert "no lesson numbered 9" in capsys.readouterr().err
    assert main(["tour", "--data", str(tmp_path / "nowhere")]) == 2


BUDGET_LESSON = '''\
from minigrad_tutorials.report import Lesson
lesson = Lesson("01_budget", "which budget")
lesson.metric("budget", lesson.budget)
lesson.metric("steps", lesson.pick(fast=1, quick=20, full=300))
lesson.finish()
'''


@pytest.mark.parametrize("budget, steps", [("fast", 1), ("quick", 20), ("full", 300)])
def test_the_tour_runs_each_lesson_at_its_budget(tmp_path, monkeypatch, budget, steps):
    """The tour's budget reaches the lesson whatever the shell exported, and the report says which."""
    root = tmp_path / "lessons"
    root.mkdir()
    _write(root, "01_budget.py", BUDGET_LESSON)
    monkeypatch.setenv("MINIGRAD_FAST", "1")   # both exported: on its own, a lesson would refuse to start
    monkeypatch.setenv("MINIGRAD_FULL", "1")
    report = tour(out=tmp_path / "out", budget=budget, root=root, progress_bar=False, previews=False)
    assert not report.failed, report.failed
    assert report.results[0]["metrics"] == {"budget": budget, "steps": steps}
    assert f"1 lesson, {budget} mode, built-in data" in (tmp_path / "out" / "index.html").read_text()
    assert f"1 lesson, {budget} mode, built-in data" in (tmp_path / "out" / "README.md").read_text()
    assert json.loads((tmp_path / "out" / "tour.json").read_text())[0]["budget"] == budget
    assert os.environ["MINIGRAD_FAST"] == os.environ["MINIGRAD_FULL"] == "1"   # restored afterwards


RANDOM_LESSON = """# %%
import minigrad as mg
from minigrad_tutorials.report import Lesson
lesson = Lesson("{name}", "draws from the default generator")
lesson.metric("draw", float(mg.randn(1).item()))
lesson.finish()
"""


def test_each_lesson_starts_from_a_fresh_processs_random_state(tmp_path):
    """A lesson's numbers are the same in the tour as alone: the second lesson does not see the
    generator where the first one left it."""
    root = tmp_path / "lessons"
    root.mkdir()
    for name in ("01_first", "02_second"):
        _write(root, f"{name}.py", RANDOM_LESSON.format(name=name))
    mg.manual_seed(123)  # whatever ran in this process before the tour
    report = tour(out=tmp_path / "out", budget="fast", root=root, progress_bar=False, previews=False)
    fresh = float(mg.Generator(mg.random.INITIAL_SEED).np.standard_normal())
    assert [r["metrics"]["draw"] for r in report.results] == pytest.approx([fresh, fresh], rel=1e-6)


def test_an_unknown_budget_is_an_error(lessons, tmp_path):
    with pytest.raises(ValueError, match="unknown budget 'slow'; use one of fast, quick, full"):
        tour(out=tmp_path / "out", budget="slow", root=lessons, progress_bar=False, previews=False)


def test_a_lesson_without_finish_is_a_failure(tmp_path):
    root = tmp_path / "lessons"
    root.mkdir()
    _write(root, "01_unfinished.py", "# %%\nfrom minigrad_tutorials.report import Lesson\nlesson = Lesson('x', 'x')\n")
    report = tour(out=tmp_path / "out", root=root, progress_bar=False, previews=False)
    assert "without writing result.json" in report.failed[0]["error"]


def test_graphs_without_dot_are_linked_as_source(tmp_path, monkeypatch):
    """What a user without Graphviz gets: the .dot file, linked with the command that installs dot."""
    root = tmp_path / "lessons"
    root.mkdir()
    _write(root, "01_graph.py", textwrap.dedent('''\
        import minigrad as mg
        from minigrad import viz
        from minigrad_tutorials.report import Lesson
        lesson = Lesson("01_graph", "a graph")
        x = mg.tensor([1.0, 2.0], requires_grad=True)
        lesson.graph(viz.draw_graph((x * x).sum()), "square", caption="x squared")
        lesson.finish()
        '''))
    monkeypatch.delenv("MINIGRAD_DOT", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # neither dot nor graphviz-pure on it
    if viz.renderers():
        pytest.skip("a Graphviz renderer is still reachable; cannot hide it in this environment")
    with pytest.warns(Warning):
        report = tour(out=tmp_path / "out", root=root, progress_bar=False, previews=False)
    assert not report.failed
    page = (tmp_path / "out" / "index.html").read_text()
    assert "href='01_graph/square.dot'" in page and "apt-get install graphviz" in page


POINT_LESSON = '''\
# %%
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from minigrad_tutorials.report import Lesson

lesson = Lesson("01_point", "A lesson with a point", point="Lines fall when they are trained.")
budget = lesson.train_budget(fast=3, full=300, quick_seconds=5)
lesson.trained("the line", budget["steps"], 0.5)
lesson.say("a trace:\\n[1] Add\\n[2] Mul")
lesson.metric("loss", 0.25, note="300 steps (--full) reach 0.01")
lesson.metric("steps", budget["steps"])
lesson.table([{f"c{i}": i for i in range(30)}], "wide", caption="thirty columns")
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
lesson.figure(fig, "other", caption="another figure")
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
lesson.figure(fig, "key", caption="the figure that shows it", key=True)
lesson.point_shown(True, "the loss fell to 0.25")
lesson.finish()
'''


def test_a_section_starts_with_the_point_the_verdict_and_the_key_figure(tmp_path):
    root = tmp_path / "lessons"
    root.mkdir()
    _write(root, "01_point.py", POINT_LESSON)
    out = tmp_path / "out"
    report = tour(out=out, budget="fast", root=root, progress_bar=False, previews=False)
    assert not report.failed, report.failed
    page = (out / "index.html").read_text()
    section = page[page.index("<h2 id='01_point'>"):]
    order = [section.index(s) for s in ("Lines fall when they are trained.", "Shown at the fast budget: the loss fell",
                                        "Training: the line 3 steps in 0.5 s.", "01_point/key.png",
                                        "Numbers of this run", "01_point/other.png")]
    assert order == sorted(order), "point, verdict, training, key figure, numbers, then the rest in order"
    assert section.count("01_point/key.png") == 1   # shown once, at the top
    assert "<pre>a trace:\n[1] Add\n[2] Mul</pre>" in section   # line breaks kept
    assert "<td>loss</td><td>0.25</td><td>300 steps (--full) reach 0.01</td>" in section
    assert "<div class='scroll'><table><caption>thirty columns</caption>" in section
    assert "<a href='01_point/key.svg' title='open the full-size picture'><img src='01_point/key.png'" in section
    overview = page[:page.index("<h2")]
    assert "<td>yes</td>" in overview   # the point-shown column
    readme = (out / "README.md").read_text()
    assert readme.index("**Lines fall when they are trained.**") < readme.index("[![the figure that shows it]") \
        < readme.index("| loss | 0.25 | 300 steps (--full) reach 0.01 |") < readme.index("[![another figure]")
    assert "```\na trace:\n[1] Add\n[2] Mul\n```" in readme
    summary = json.loads((out / "tour.json").read_text())[0]
    assert summary["verdict"] == {"shown": True, "evidence": "the loss fell to 0.25"}
    assert summary["training"] == [{"model": "the line", "steps": 3, "seconds": 0.5}]


# -- the real lessons ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fast_tour(tmp_path_factory):
    """The whole tour in fast mode, once per test process (its report and, with Chromium, previews)."""
    out = tmp_path_factory.mktemp("fast_tour") / "tour"
    t0 = time.perf_counter()
    report = tour(out=out, budget="fast", progress_bar=False)
    return out, report, time.perf_counter() - t0


@pytest.mark.slow
def test_fast_tour_runs_every_lesson_and_shows_every_figure(fast_tour, capsys):
    """No lesson fails in the fast tour, each says whether its point showed and starts its section
    with a key figure, every figure and graph has a caption, and index.html / README.md show every
    figure (PNG, linked to its SVG), graph (SVG, or DOT source without Graphviz) and table that
    each lesson recorded. The time each lesson took is printed (pytest -s) and kept in tour.json."""
    out, report, seconds = fast_tour
    lessons = find_lessons()
    assert lessons, "tutorials/ has no lessons"
    with capsys.disabled():
        print(f"\nfast tour: {seconds:.1f} s: "
              + ", ".join(f"{r['dir']} {r['seconds']} s (CPU {r['cpu_seconds']} s)" for r in report.results))
    failures = {r["dir"]: r["error"] + "\n" + r.get("traceback", "") for r in report.failed}
    assert not failures, f"lessons failed in the fast tour: {failures}"
    assert [r["dir"] for r in report.results] == [p.stem for p in lessons]

    page = (out / "index.html").read_text()
    readme = (out / "README.md").read_text()
    drawn = bool(viz.renderers())
    for r in report.results:
        assert f"id='{r['dir']}'" in page
        assert r["point"] and r["verdict"] is not None, f"{r['dir']} states no point, or not whether it showed"
        assert sum(bool(i.get("key")) for i in r["items"]) == 1, f"{r['dir']} needs exactly one key figure"
        assert any(i["kind"] == "figure" for i in r["items"]), f"{r['dir']} records no figure"
        for item in r["items"]:
            src = f"{r['dir']}/{item.get('path')}"
            if item["kind"] in ("figure", "graph"):
                assert item["caption"] and item["caption"] != item["name"], f"{src} has no caption"
                assert (out / src).is_file(), f"{src} is in result.json but not on disk"
                assert src in readme
            if item["kind"] == "figure":
                assert f"<img src='{src}'" in page
                assert (out / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                assert f"href='{src[:-4]}.svg'" in page and "<svg" in (out / (src[:-4] + ".svg")).read_text()
            elif item["kind"] == "graph":
                if drawn:
                    assert src.endswith(".svg") and f"<img src='{src}'" in page
                    assert "<svg" in (out / src).read_text()
                else:
                    assert src.endswith(".dot") and f"href='{src}'" in page
            elif item["kind"] == "table" and item["rows"]:
                assert _markdown_table(item["rows"]) in readme
                assert all(f"<th>{html.escape(str(c))}</th>" in page for c in item["rows"][0])
        for name in r["metrics"]:
            assert "| " + name.replace("|", "\\|") + " |" in readme
            assert f"<td>{html.escape(name)}</td>" in page


@pytest.mark.slow
def test_fast_tour_report_in_a_browser(fast_tour):
    """index.html as headless Chromium shows it 1280 pixels wide: every lesson's figures and graphs
    load (no broken image, no DOT source where a picture belongs), nothing makes the reader scroll
    sideways, the graphs are not shrunk to unreadable labels, and each lesson has its preview.png."""
    from minigrad_tutorials.chromium import find_chromium, inspect

    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium here (apt-get install chromium; .ci/run installs it): the report was not "
                    "checked in a browser")
    out, report, _ = fast_tour
    state = inspect(exe, out / "index.html")
    assert state["sections"] == [r["dir"] for r in report.results]
    assert state["scroll_width"] <= 1280, "the page is wider than a 1280-pixel window"
    assert state["font_px"] >= 14
    broken = [i["src"] for i in state["images"] if not i["loaded"]]
    assert not broken, f"images that did not load: {broken}"
    shown = {i["src"] for i in state["images"]}
    for r in report.results:
        pictures = [f"{r['dir']}/{i['path']}" for i in r["items"] if i["kind"] in ("figure", "graph")]
        assert pictures and set(pictures) <= shown, f"{r['dir']}: not every figure and graph is on the page"
        assert all(p.endswith((".png", ".svg")) for p in pictures), f"{r['dir']}: DOT source instead of a picture"
        preview = out / r["dir"] / "preview.png"
        assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"no preview.png for {r['dir']}"
        assert int.from_bytes(preview.read_bytes()[16:20], "big") == 1280   # the PNG's width
    for image in state["images"]:
        if image["src"].endswith(".svg"):   # a graph: its labels must not shrink much below their size
            assert image["shown_width"] >= 0.5 * image["natural_width"], f"{image['src']} is shrunk to unreadable"


def test_a_slow_cell_keeps_writing_progress_lines():
    """Without a terminal (a log, CI) the tour's line is written every heartbeat while a cell runs,
    with the lesson, the cell and the minutes spent: nothing looks hung."""
    import io

    from minigrad_tutorials.tour import TourBar, _ticking

    out = io.StringIO()
    bar = TourBar(3, "quick", whole_tour=True, stream=out, heartbeat=0.1)
    bar.lesson(2, "rnn lstm gru", cells=4)
    bar.cell(3, "slow training")
    with _ticking(bar, interval=0.02):
        time.sleep(0.35)
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 4   # a heartbeat every 0.1 s
    assert set(lines) == {"  lesson 2/3 rnn lstm gru | cell 3/4 slow training | 0:00 of about 10:00"}
    quiet = TourBar(3, "quick", whole_tour=True, stream=out, heartbeat=0.01, disable=True)
    quiet.lesson(1, "x", cells=1)
    quiet.cell(1, "y")
    with _ticking(quiet, interval=0.01):
        time.sleep(0.05)
    assert len(out.getvalue().splitlines()) == len(lines)


SEEDED_LESSON = '''\
# %%
from minigrad_tutorials.report import Lesson
from minigrad_tutorials.seeds import difference, summarize

lesson = Lesson("01_seeded", "Seeded: a claim over seeds", point="Gates help.")
SEEDS = lesson.run_seeds(fast=3, quick=2, full=5)
lesson.metric("RNN loss", 2.0 + 0.01 * lesson.seed)
lesson.metric("LSTM loss", 1.9 + 0.01 * lesson.seed - 0.001 * lesson.seed ** 2)
lesson.metric("seed", lesson.seed)

# %%
runs = lesson.seed_results()
stats = summarize(runs)
lesson.claim("LSTM below RNN", {"RNN": stats["RNN loss"], "LSTM": stats["LSTM loss"]},
             test=difference(runs, "LSTM loss", "RNN loss"), direction="below", test_name="LSTM - RNN")
lesson.claim("LSTM far below RNN", {}, test=difference(runs, "LSTM loss", "RNN loss"), threshold=-0.5,
             direction="below", test_name="LSTM - RNN")
lesson.finish()
'''


def test_a_lesson_runs_its_other_seeds_and_the_report_shows_the_claims_table(tmp_path):
    pytest.importorskip("scipy", reason="the t interval uses scipy")
    root = tmp_path / "lessons"
    root.mkdir()
    _write(root, "01_seeded.py", SEEDED_LESSON)
    out = tmp_path / "out"
    report = tour(out=out, budget="fast", root=root, progress_bar=False, previews=False)
    assert not report.failed, report.failed
    result = report.results[0]
    # seeds 1 and 2 ran the lesson in processes of their own: their metrics came back
    assert result["metrics"]["seed"] == 0
    claims = result["claims"]
    # LSTM - RNN per seed: -0.1, -0.101, -0.104: mean -0.10167, s 0.002082, half-width 4.303 * 0.002082 / sqrt(3)
    assert [c["verdict"] for c in claims] == ["reproduced", "not shown at this budget"]
    assert claims[0]["test"] == "LSTM - RNN -0.1017 ± 0.0052 < 0" and claims[0]["seeds"] == 3
    assert claims[0]["measured"] == "RNN 2.010 ± 0.025; LSTM 1.908 ± 0.020"   # LSTM: 1.9, 1.909, 1.916
    page = (out / "index.html").read_text()
    table = page[page.index("<h3 id='claims'>Claims of the lecture</h3>"):page.index("<h2 id='01_seeded'>")]
    assert "<th>lesson</th><th>claim</th><th>measured</th><th>test</th><th>seeds</th><th>budget</th><th>verdict</th>" \
        in table
    assert "<td>1</td><td>LSTM below RNN</td>" in table and table.count("<tr>") == 3
    readme = (out / "README.md").read_text()
    assert "## Claims of the lecture" in readme
    assert "| 1 | LSTM far below RNN |  | LSTM - RNN -0.1017 ± 0.0052 < -0.5 | 3 | fast | not shown at this budget |" \
        in readme
    assert json.loads((out / "tour.json").read_text())[0]["claims"] == claims
