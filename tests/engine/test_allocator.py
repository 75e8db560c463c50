"""minigrad.allocator: freed host memory stays in the process, so a repeated step stops
page-faulting. Measured as the kernel's count of minor page faults in a fresh interpreter."""
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="the tuning is for glibc's malloc"
)

# 20 "training steps": ten 1.6 MB activations allocated (forward), then freed (backward)
STEPS = """
import resource, numpy as np, minigrad
def step():
    acts = [np.ones(400_000, np.float32) * i for i in range(10)]
    while acts:
        acts.pop()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(minigrad.allocator.tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(malloc_setting):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["MINIGRAD_MALLOC"] = malloc_setting
    out = subprocess.run([sys.executable, "-c", STEPS], env=env, capture_output=True, text=True, check=True)
    tuned, faults = out.stdout.split()
    return tuned == "True", int(faults)


def test_importing_minigrad_stops_the_page_faults_of_repeated_steps():
    tuned, faults = page_faults("")
    untuned, untuned_faults = page_faults("default")
    assert tuned and not untuned
    # 20 steps x 10 arrays x ~390 pages each would fault ~78,000 times if every step got fresh pages
    assert untuned_faults > 20_000, untuned_faults
    assert faults < 1_000, faults
