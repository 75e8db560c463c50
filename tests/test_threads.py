"""numpy's BLAS threads: minigrad.set_num_threads / get_num_threads, and the rule the commands and
lessons use to choose a count (minigrad_tutorials.autothreads)."""
import pytest

import minigrad as mg
from minigrad_tutorials import autothreads

threadpoolctl = pytest.importorskip("threadpoolctl", reason="changing BLAS threads at run time needs threadpoolctl")


@pytest.fixture
def restore_threads():
    before = mg.get_num_threads()
    yield
    mg.set_num_threads(before)


def _blas_threads():
    """What threadpoolctl itself reports: the independent answer."""
    return max(p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas")


def test_set_and_get_num_threads(restore_threads):
    for n in (1, 2):
        mg.set_num_threads(n)
        assert mg.get_num_threads() == _blas_threads() == n
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="whole number >= 1"):
            mg.set_num_threads(bad)


def _no_measuring():
    raise AssertionError("the rule must not calibrate on 2 cores or fewer")


@pytest.mark.parametrize("cores", [1, 2])
def test_the_rule_takes_one_thread_on_two_cores_without_measuring(cores):
    n, why = autothreads.choose(cores, measure=_no_measuring)
    assert n == 1 and "4x slower" in why


@pytest.mark.parametrize("ratio, expected", [(0.5, 2), (autothreads.PAYS, 2), (0.81, 1), (1.0, 1), (4.3, 1)])
def test_on_more_cores_two_threads_only_when_the_calibration_says_they_pay(ratio, expected):
    n, why = autothreads.choose(8, measure=lambda: ratio)
    assert n == expected and f"{ratio:.2f}x" in why


def test_calibration_times_both_counts_and_restores_the_pool(restore_threads):
    mg.set_num_threads(1)
    ratio = autothreads.calibrate(pairs=2)
    assert 0.05 < ratio < 50   # a ratio of two real timings, whatever the machine's load
    assert _blas_threads() == 1


@pytest.fixture
def fresh_choice(monkeypatch, restore_threads):
    """A process that has not chosen yet, with no thread settings in its environment."""
    monkeypatch.setattr(autothreads, "_chosen", None)
    for name in ("MINIGRAD_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(autothreads, "usable_cores", lambda: 2)
    return monkeypatch


def test_apply_says_what_it_chose_and_keeps_it(fresh_choice):
    said = []
    assert autothreads.apply(log=said.append) == 1 == _blas_threads()
    assert said == ["numpy BLAS threads: 1, 2 cores: a second thread made training steps up to 4x slower where it "
                    "was measured (--threads N or MINIGRAD_THREADS=N to change it)"]
    mg.set_num_threads(2)   # the tour chose; a lesson inside it asks again without a request: nothing changes
    assert autothreads.apply(log=said.append) == 1 and len(said) == 1


def test_a_request_beats_the_environment_which_beats_the_rule(fresh_choice):
    said = []
    fresh_choice.setenv("OPENBLAS_NUM_THREADS", "1")
    fresh_choice.setenv("MINIGRAD_THREADS", "2")
    assert autothreads.apply(log=said.append) == 2 == _blas_threads()
    assert said[-1] == "numpy BLAS threads: 2, from MINIGRAD_THREADS"
    assert autothreads.apply("1", log=said.append) == 1 == _blas_threads()
    assert said[-1] == "numpy BLAS threads: 1, as asked"
    fresh_choice.setattr(autothreads, "_chosen", None)
    fresh_choice.delenv("MINIGRAD_THREADS")
    mg.set_num_threads(2)
    assert autothreads.apply(log=said.append, measure=_no_measuring) == 2   # OPENBLAS_NUM_THREADS: left alone
    assert "OPENBLAS_NUM_THREADS" in said[-1]


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_count_names_where_it_came_from(fresh_choice, value):
    fresh_choice.setenv("MINIGRAD_THREADS", value)
    with pytest.raises(ValueError, match=f"MINIGRAD_THREADS: the thread count must be a whole number >= 1, "
                                         f"got '{value}'"):
        autothreads.apply(log=None)
    with pytest.raises(ValueError, match="--threads"):
        autothreads.apply(value, log=None)
