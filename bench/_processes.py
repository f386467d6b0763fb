"""Whole commands measured as a user meets them: wall time, and the CPU of every process started.

Standard library only. Each command runs in a cpuacct cgroup of its own (cgroup v1, made under
``/sys/fs/cgroup/cpuacct``, or ``$BROADSHEET_BENCH_CGROUP``): the child joins the group between
fork and exec, so whatever it starts later (a parser pool's fork server and its processes, which
``getrusage`` never sees because nobody waits for them) is charged to the group. The group's
``cpuacct.usage`` is read after every process in it has exited.

Where no cgroup can be made (not root, cgroup v2 only, a container), CPU falls back to sampling
/proc every 20 ms for the processes of the command's session: processes that start and end
between two samples are missed, and /proc counts in clock ticks (10 ms). ``Accounting.warning``
says so, and the benchmark prints it.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CGROUP_ROOT = Path(os.environ.get("BROADSHEET_BENCH_CGROUP", "/sys/fs/cgroup/cpuacct"))
TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.02


@dataclass(frozen=True)
class Measured:
    """One whole command: wall and CPU seconds (all its processes), exit status and output."""

    wall: float
    cpu: float
    returncode: int
    stdout: str
    stderr: str


def proc_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (state is [0]), or None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def memory_mb(pids: Sequence[int]) -> tuple[float, float]:
    """Resident memory of ``pids`` together, in MB: the sum of their RSS, and of their PSS.

    RSS counts a page shared by several processes (a forked parser's copy of the interpreter)
    once per process; PSS divides it among them, so the PSS sum is what they cost the machine.
    """
    rss = pss = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # gone meanwhile
        rss += _kb(status, "VmRSS:")
        pss += _kb(rollup, "Pss:")
    return rss / 1024, pss / 1024


def _kb(text: str, field: str) -> int:
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


class Tracked:
    """A started command and the processes it started, with the CPU they used so far."""

    def __init__(self, process: subprocess.Popen[str], group: Path | None, started: float) -> None:
        self.process, self.group, self.started = process, group, started
        self._seen: dict[int, float] = {}  # fallback: pid -> its own CPU seconds at last sight
        self._done = threading.Event()
        if group is None:
            self._sampler = threading.Thread(target=self._sample_until_done, daemon=True)
            self._sampler.start()

    def pids(self) -> list[int]:
        """The command's live processes."""
        if self.group is not None:
            text = (self.group / "cgroup.procs").read_text()
            return [int(line) for line in text.split()]
        return [pid for pid, fields in self._session().items() if fields[0] != "Z"]

    def cpu(self) -> float:
        """CPU seconds used by all of the command's processes so far."""
        if self.group is not None:
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        self._sample()
        return sum(self._seen.values())

    def _session(self) -> dict[int, list[str]]:
        """The /proc stat fields of every process in the command's session (its id: our pid)."""
        found = {}
        for entry in os.scandir("/proc"):
            fields = proc_fields(int(entry.name)) if entry.name.isdigit() else None
            if fields and int(fields[3]) == self.process.pid:
                found[int(entry.name)] = fields
        return found

    def _sample(self) -> None:
        for pid, fields in self._session().items():
            own = (int(fields[11]) + int(fields[12])) / TICK
            self._seen[pid] = max(own, self._seen.get(pid, 0.0))

    def _sample_until_done(self) -> None:
        while not self._done.wait(SAMPLE_EVERY):
            self._sample()

    def wait(self, timeout: float | None = None) -> tuple[float, float]:
        """Wait for the command and everything it started to end: (wall, CPU) seconds."""
        if self.group is None:  # read the exiting process's own times before it is reaped
            os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOWAIT)
            self._sample()
        self.process.wait(timeout)
        wall = time.perf_counter() - self.started
        deadline = time.monotonic() + 10
        while (left := self.pids()) and time.monotonic() < deadline:
            time.sleep(0.01)
        for pid in left:  # still running 10 s after the command ended: stop them
            print(f"  (process {pid} outlived its command by 10 s; killed)", flush=True)
            os.kill(pid, signal.SIGKILL)
        self._done.set()
        spent = self.cpu()
        if self.group is not None:
            self.group.rmdir()
        return wall, spent


class Accounting:
    """Starts commands in their own cpuacct cgroup, or in their own session when it cannot."""

    def __init__(self) -> None:
        self.root: Path | None = CGROUP_ROOT / f"broadsheet-bench-{os.getpid()}"
        self.warning = ""
        self._numbers = itertools.count()
        try:
            self.root.mkdir()
            (self.root / "cpuacct.usage").read_text()
        except OSError as error:
            self.root = None
            self.warning = (
                f"no cpuacct cgroup could be made under {CGROUP_ROOT} ({error.strerror}): CPU is "
                "sampled from /proc every 20 ms instead, which misses processes shorter than "
                "that and counts in 10 ms ticks; run as root with cgroup v1 for exact figures"
            )

    @property
    def method(self) -> str:
        """How CPU is counted, in a few words."""
        if self.root is None:
            return "sampled from /proc (approximate)"
        return f"cpuacct cgroup per command ({self.root.parent})"

    def start(
        self,
        command: Sequence[str],
        *,
        stdout: IO[Any] | int | None = subprocess.PIPE,
        stderr: IO[Any] | int | None = subprocess.PIPE,
        cwd: Path | None = None,
    ) -> Tracked:
        """Start ``command`` in a group of its own."""
        group = None
        if self.root is not None:
            group = self.root / f"c{next(self._numbers)}"
            group.mkdir()
        procs = str(group / "cgroup.procs") if group else ""

        def join() -> None:  # in the child, between fork and exec
            if procs:
                with open(procs, "w") as handle:
                    handle.write(str(os.getpid()))

        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            text=True,
            start_new_session=True,
            preexec_fn=join,
        )
        return Tracked(process, group, started)

    def run(self, command: Sequence[str], cwd: Path | None = None) -> Measured:
        """Run ``command`` to its end (everything it started included) and measure it."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            tracked = self.start(command, stdout=out, stderr=err, cwd=cwd)
            wall, spent = tracked.wait()
            out.seek(0)
            err.seek(0)
            return Measured(wall, spent, tracked.process.returncode, out.read(), err.read())

    def close(self) -> None:
        """Remove the benchmark's cgroup (its commands' groups are removed as they end)."""
        if self.root is not None:
            self.root.rmdir()
