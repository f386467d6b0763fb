"""The benchmarks count the CPU of every process a command starts, waited for or not.

bench/_processes.py is what bench/ingest.py's whole-command figures rest on: a parser pool's
fork server is never waited for, so ``getrusage`` would miss its work. Both ways of counting are
run: the cpuacct cgroup (when this machine lets us make one) and the /proc fallback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "bench"))  # after the ingest package

import _processes

# The command's child starts a grandchild that works for 0.3 s of CPU, and exits at once: nobody
# waits for the grandchild (init adopts it), as nobody waits for a fork server.
ORPHAN = """
import os, sys, time
if os.fork() == 0:
    if os.fork() == 0:
        started = time.process_time()
        while time.process_time() - started < 0.3:
            pass
    os._exit(0)
os.wait()
print("parent done")
"""


@pytest.mark.parametrize("way", ["cgroup", "proc"])
def test_a_command_is_charged_for_the_processes_it_left_running(
    way: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if way == "proc":
        monkeypatch.setattr(_processes, "CGROUP_ROOT", tmp_path / "no-cgroups-here")
    accounting = _processes.Accounting()
    if way == "cgroup" and accounting.root is None:
        pytest.skip(f"no cpuacct cgroup can be made here: {accounting.warning}")
    try:
        done = accounting.run([sys.executable, "-c", ORPHAN])
    finally:
        accounting.close()
    assert done.returncode == 0 and done.stdout == "parent done\n"
    assert done.cpu >= 0.28  # the orphan's 0.3 s (less a clock tick on the /proc side)
    assert bool(accounting.warning) == (way == "proc")
