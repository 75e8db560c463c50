"""The benchmark harness (benchmarks/): the runs alternate, the ratio is the median of paired ratios,
both libraries get the same thread count or nothing runs, and the table reaches the README.
Nothing here is timed: the clocks are stand-ins and the benchmarks themselves are not run."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
import run  # noqa: E402

from minigrad_tutorials import cli  # noqa: E402
from minigrad_tutorials.cli import main  # noqa: E402

BENCHMARKS = {"op_overhead", "mlp_train", "lstm_train", "gpt_train", "gpt_generate", "optim_step"}


# -- pairing and the median of paired ratios -----------------------------------------------------------
def test_runs_alternate_minigrad_then_torch():
    order = []
    fake_seconds = iter([1.0, 2.0] * 10)

    def clock(fn, sync):
        fn()
        sync()
        return next(fake_seconds)

    ours, theirs = common.paired_runs(lambda: order.append("m"), lambda: order.append("t"), repeat=3, warmup=1,
                                      sync_minigrad=lambda: order.append("sm"), sync_torch=lambda: order.append("st"),
                                      clock=clock)
    assert order == ["m", "sm", "t", "st"] * 4  # one warm-up pair, then three timed pairs, each run synchronized
    assert ours == [1.0] * 3 and theirs == [2.0] * 3


def test_ratio_is_the_median_of_paired_ratios_not_the_ratio_of_medians():
    minigrad_s, torch_s = [1.0, 10.0, 2.0], [1.5, 12.0, 1.0]  # a burst of load in the second pair hits both
    median, q1, q3 = common.paired_ratios(minigrad_s, torch_s)
    # paired speed ratios torch/minigrad: 1.5, 1.2, 0.5 -> median 1.2; quartiles by linear interpolation
    assert median == pytest.approx(1.2)
    assert (q1, q3) == (pytest.approx(0.85), pytest.approx(1.35))
    assert np.median(torch_s) / np.median(minigrad_s) == pytest.approx(0.75)  # what the old harness quoted


def test_paired_ratios_of_one_pair_and_of_unequal_runs():
    assert common.paired_ratios([2.0], [3.0]) == (1.5, 1.5, 1.5)
    with pytest.raises(ValueError, match="same number of runs"):
        common.paired_ratios([1.0, 2.0], [1.0])


def test_measure_turns_seconds_into_the_rows_figures():
    calls = []
    case = common.Case("toy", lambda: (lambda: calls.append("m"), lambda: calls.append("t"), {"same": True}),
                       work=100, unit="us/op", repeat=4, warmup=0, flops=2e9)
    result = common.measure("toy_bench", case, common.Device("cpu"))
    assert calls == ["m", "t"] * 4 and result.runs == 4
    assert result.minigrad == pytest.approx(np.median(result.minigrad_seconds) * 1e6 / 100)
    assert result.ratio == pytest.approx(np.median(np.divide(result.torch_seconds, result.minigrad_seconds)))
    assert result.extra["same"] is True
    assert result.extra["minigrad_gflops"] == pytest.approx(2.0 / np.median(result.minigrad_seconds))


def test_share_of_the_matmul_peak_uses_one_peak_for_both():
    def row(name, mg_gflops, torch_gflops, peak=False):
        extra = {"minigrad_gflops": mg_gflops, "torch_gflops": torch_gflops}
        if peak:
            extra["matmul_peak"] = True
        return common.Result("b", name, "tokens/s", 1, 1, 1, 1, 1, 1, extra=extra)

    peak, step = row("matmul", 90.0, 100.0, peak=True), row("gpt", 30.0, 40.0)
    common.add_peak_shares([peak, step])
    assert step.extra["minigrad_share_of_peak"] == pytest.approx(0.30)
    assert step.extra["torch_share_of_peak"] == pytest.approx(0.40)
    assert "minigrad_share_of_peak" not in peak.extra


# -- the same thread count for both, or a clear refusal ------------------------------------------------
@pytest.fixture
def restore_threads():
    torch = pytest.importorskip("torch")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=None):  # restores numpy's BLAS threads on the way out
        yield
    torch.set_num_threads(before)


def test_both_libraries_get_the_threads_asked_for(restore_threads):
    import threadpoolctl
    import torch

    info = common.match_threads(1)
    assert info["numpy_threads"] == info["torch_threads"] == torch.get_num_threads() == 1
    blas = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert blas and set(blas) == {1}
    assert info["numpy_blas"] and info["torch_blas"]


def test_refuses_without_threadpoolctl(monkeypatch, restore_threads):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    with pytest.raises(common.HarnessError, match=r"threadpoolctl is not installed.*\.\[bench\]"):
        common.match_threads(1)


def test_refuses_when_numpys_blas_ignores_the_limit(monkeypatch, restore_threads):
    import threadpoolctl

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda **kw: None)
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: [
        {"user_api": "blas", "internal_api": "openblas", "num_threads": 2, "version": "0.3"}])
    with pytest.raises(common.HarnessError, match=r"asked for 1 BLAS thread\(s\).*reports \[2\]"):
        common.match_threads(1)


def test_refuses_when_torch_ignores_the_limit(monkeypatch, restore_threads):
    import torch

    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    with pytest.raises(common.HarnessError, match=r"asked torch for 1 thread\(s\), it reports 3"):
        common.match_threads(1)


def test_refuses_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(common.HarnessError, match=r"PyTorch is not installed.*\.\[bench\]"):
        common.import_torch()


def test_refuses_cuda_without_cupy(monkeypatch):
    from minigrad import backend

    pytest.importorskip("torch")
    monkeypatch.setenv("CUPY_TF32", "0")  # Device sets it; monkeypatch puts the old value back
    monkeypatch.setattr(backend, "cupy_module", lambda: None)
    with pytest.raises(common.HarnessError, match="--device cuda: cupy is not installed"):
        common.Device("cuda")


# -- memory -----------------------------------------------------------------------------------------------
def test_rss_rise_sees_an_allocation_that_is_freed_again():
    """In a fresh process, as the harness measures: here, memory that earlier tests freed and the
    process kept (minigrad's malloc settings keep it) would hide the rise."""
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import common\n"
            "def allocate():\n    a = np.ones(64 * 2**20 // 8)\n    a += 1\n    del a\n"
            "print(common.rss_rise_mib(allocate))")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "benchmarks")], capture_output=True, text=True,
                          check=True)
    assert 48 < float(done.stdout) < 200  # 64 MiB touched, then freed


# -- the runner, its table, and the README --------------------------------------------------------------
def test_every_benchmark_is_found_and_listed_by_minigrad_bench_help(capsys):
    assert BENCHMARKS <= set(run.available())
    assert not {"common", "run"} & set(run.available())
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in run.available():
        assert name in out
    assert "--device {cpu,cuda}" in out


def test_bench_unknown_name_lists_the_benchmarks(capsys):
    assert main(["bench", "no_such_benchmark"]) == 2
    err = capsys.readouterr().err
    assert "no_such_benchmark" in err and "mlp_train" in err


def test_one_broken_benchmark_does_not_hide_the_others(monkeypatch, capsys, restore_threads):
    from types import ModuleType

    def broken(opts):
        raise RuntimeError("out of memory")

    def fine(opts):
        return [common.Case("toy", lambda: (lambda: None, lambda: None), work=1, unit="steps/s", repeat=2, warmup=0)]

    for name, cases in (("toy_broken", broken), ("toy_fine", fine)):
        module = ModuleType(name)
        module.cases = cases
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(run, "available", lambda: {"toy_broken": "", "toy_fine": ""})
    assert run.run(run.build_parser().parse_args(["--no-save"])) == 1
    captured = capsys.readouterr()
    assert "toy_broken failed: RuntimeError: out of memory" in captured.err
    assert "toy_fine" in captured.out and "(2 pairs)" in captured.out


def test_every_case_names_a_known_unit():
    pytest.importorskip("torch")
    opts = run.build_parser().parse_args(["--gpu-recipe-batch", "2"])
    for name in BENCHMARKS:
        module = __import__(name)
        rows = module.cases(opts)
        assert rows, name
        for case in rows:
            assert case.unit in common.UNITS and case.work > 0 and case.repeat >= 3, (name, case.name)


def _record(case="toy", ratio=1.2, date="2026-01-02"):
    setup = {"device": "cpu", "cpu": "a CPU", "numpy": "2", "numpy_blas": "openblas", "numpy_threads": 1,
             "torch": "2.13.0", "torch_blas": "mkl", "torch_threads": 1, "commit": "abc1234", "date": date}
    result = {"benchmark": "toy_bench", "case": case, "unit": "tokens/s", "runs": 7, "minigrad": 1200.0,
              "torch": 1000.0, "ratio": ratio, "ratio_q1": 1.1, "ratio_q3": 1.3,
              "extra": {"peak_mib": {"minigrad": 40.0, "torch": 50.0, "how": "rss"}, "minigrad_share_of_peak": 0.12,
                        "torch_share_of_peak": 0.1, "minigrad_gflops": 1.0, "torch_gflops": 1.0}}
    return {"setup": setup, "results": [result]}


def test_markdown_table_from_the_json(tmp_path):
    folder = tmp_path / "cpu"
    folder.mkdir()
    (folder / "toy_bench.json").write_text(json.dumps(_record()))
    table = run.write_markdown(folder).read_text()
    row = [ln for ln in table.splitlines() if ln.startswith("| `toy_bench`")]
    assert row == ["| `toy_bench` | toy | 1,200 tokens/s | 1,000 tokens/s | **1.20x** [1.10-1.30] | 7 | "
                   "peak memory 40 / 50 MiB (0.80x); 12% / 10% of the matmul peak |"]
    assert "1 thread(s)" in table and "openblas" in table and "mkl" in table and "2026-01-02" in table


def test_readme_shows_the_measured_cpu_table():
    table = (ROOT / "benchmarks" / "results" / "cpu.md").read_text()
    readme = (ROOT / "README.md").read_text()
    rows = [ln for ln in table.splitlines() if ln.startswith("| `")]
    assert rows, "benchmarks/results/cpu.md has no rows: run `minigrad bench`"
    for line in rows:
        assert line in readme, f"the README's speed table lacks {line!r}: copy benchmarks/results/cpu.md into it"


# -- the GPU branch, on stand-ins for cupy and torch.cuda (CI has no GPU) ----------------------------------
def test_cuda_branch_synchronizes_sets_tf32_alike_and_reads_both_allocators(monkeypatch, request):
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from minigrad import backend

    log, hooks = [], []

    class MemoryHook:  # cupy.cuda.MemoryHook's protocol: registered while in a `with`
        def __enter__(self):
            hooks.append(self)
            return self

        def __exit__(self, *exc):
            hooks.remove(self)

    pool = SimpleNamespace(used=10 * 2**20)
    pool.used_bytes = lambda: pool.used
    pool.free_all_blocks = lambda: None
    cupy = SimpleNamespace(__version__="0-stand-in", get_default_memory_pool=lambda: pool, cuda=SimpleNamespace(
        MemoryHook=MemoryHook, Device=lambda: SimpleNamespace(synchronize=lambda: log.append("sync cupy")),
        runtime=SimpleNamespace(getDeviceProperties=lambda i: {"name": b"Stand-in GPU"})))
    monkeypatch.setattr(backend, "cupy_module", lambda: cupy)
    monkeypatch.setenv("CUPY_TF32", "1")
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)  # torch's own properties

    def restore_flags():
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags

    request.addfinalizer(restore_flags)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    for name, fn in [("is_available", lambda: True), ("synchronize", lambda: log.append("sync torch")),
                     ("reset_peak_memory_stats", lambda: log.append("reset")),
                     ("max_memory_allocated", lambda: 50 * 2**20), ("empty_cache", lambda: None)]:
        monkeypatch.setattr(torch.cuda, name, fn)

    device = common.Device("cuda", tf32=False)
    assert os.environ["CUPY_TF32"] == "0"
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert device.info["gpu"] == "Stand-in GPU" and device.info["tf32"].startswith("off for both")

    def minigrad_run():  # 100 MiB in use for a moment, seen by the hook after the allocation
        log.append("minigrad")
        pool.used += 100 * 2**20
        for hook in hooks:
            hook.malloc_postprocess(size=100 * 2**20)
        pool.used -= 100 * 2**20

    case = common.Case("toy", lambda: (minigrad_run, lambda: log.append("torch")), work=1, repeat=2, warmup=0,
                       memory=True)
    result = common.measure("toy_bench", case, device)
    assert log[:8] == ["minigrad", "sync cupy", "torch", "sync torch"] * 2  # each timed run ends synchronized
    assert result.extra["peak_mib"]["minigrad"] == pytest.approx(110)  # what was in use before, plus the run's
    assert result.extra["peak_mib"]["torch"] == pytest.approx(50)
    assert "reset" in log[8:]
    # kernels per step: counted under torch.profiler (a CPU build of torch sees none)
    assert result.extra["kernels"]["minigrad"] == result.extra["kernels"]["torch"] == 0
    assert result.extra["kernels"]["per"] == "step"


def test_kernels_are_ranked_by_gpu_time_and_reported_per_step():
    kernels = [("gemm", 30.0), ("gelu_backward", 5.0), ("gemm", 50.0), ("layer_norm_forward", 15.0)]
    top = common.top_kernels(kernels, top=2)
    assert top == [{"kernel": "gemm", "calls": 2, "ms": 0.08, "share": 0.8},
                   {"kernel": "layer_norm_forward", "calls": 1, "ms": 0.015, "share": 0.15}]
    extra = {"kernels": {"per": "step", "minigrad": 412.0, "torch": 96.5, "minigrad_gpu_ms": 12.5,
                         "torch_gpu_ms": 8.25, "minigrad_top": top}}
    assert run._notes(extra) == "kernels per step 412 / 96, GPU busy 12.5 / 8.25 ms"
    result = common.Result("b", "c", "tokens/s", 1, 1.0, 1.0, 1.0, 1.0, 1.0, extra=extra)
    assert "80.0%" in run._top_kernels(result) and "gemm" in run._top_kernels(result)


# -- the prepared GPU session (benchmarks/gpu_session.py) ---------------------------------------------------
def test_the_gpu_session_sizes_the_training_run_to_the_time_left(tmp_path):
    import gpu_session

    args = gpu_session.build_parser().parse_args(["--out", str(tmp_path)])
    argv, iters = gpu_session.train_command(args, tmp_path, seconds_left=200, tokens_per_s=20 * 64 * 256)
    # 20 iterations a second; the two loss estimates take 2 * 2 * 100 / 60 s, and 30 s of start-up
    assert iters == int((200 - (400 / 60 + 30)) * 20 * 0.9)
    assert argv[argv.index("--iters") + 1] == str(iters) and argv[argv.index("--lr-decay-iters") + 1] == "5000"
    assert {"--size", "gpu", "--device", "cuda", "tinyshakespeare"} <= set(argv)
    _, capped = gpu_session.train_command(args, tmp_path, seconds_left=10_000, tokens_per_s=20 * 64 * 256)
    assert capped == 5000  # never more than the recipe


def test_the_gpu_session_reads_pytests_tally_of_each_stage():
    import gpu_session

    log = ("===== kernels: pytest ...\n....\n===== 26 passed, 2 skipped in 3.1s =====\n===== kernels: ok after 4 s\n"
           "===== parity: pytest ...\n== 1 failed, 200 passed in 80s ==\n===== parity: exit 1 after 81 s\n")
    assert gpu_session.pytest_tally(log, "kernels") == "26 passed, 2 skipped in 3.1s"
    assert gpu_session.pytest_tally(log, "parity") == "1 failed, 200 passed in 80s"
    assert gpu_session.pytest_tally(log, "bench") == "no summary"


def test_minigrad_bench_runs_a_benchmark_through_the_command_line(monkeypatch, capsys, restore_threads):
    """`minigrad bench NAME` (the README's way), not only benchmarks/run.py: the command's own
    arguments (its function, the loaded runner) must not break the run's JSON record."""
    from types import ModuleType

    module = ModuleType("toy_cli")
    module.cases = lambda opts: [common.Case("toy", lambda: (lambda: None, lambda: None), work=1, unit="steps/s",
                                             repeat=2, warmup=0)]
    monkeypatch.setitem(sys.modules, "toy_cli", module)
    runner = cli._bench_runner()
    monkeypatch.setattr(runner, "available", lambda: {"toy_cli": ""})
    monkeypatch.setattr(cli, "_bench_runner", lambda: runner)
    assert main(["bench", "toy_cli", "--no-save"]) == 0
    assert "(2 pairs)" in capsys.readouterr().out
