"""The parser processes: they never outlive the process that started them."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

from processes import alive, descendants, start, wait_for, write_config
from server import RSS_TYPE, FeedServer, Reply, Request, generated_body


def cmdline(pid: int) -> str:
    """The process's command line, or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def parent(pid: int) -> int:
    """The process's parent id, or 0 once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def multiprocessing_children(pid: int) -> set[int]:
    """The processes below ``pid`` that multiprocessing started (fork server, pool, tracker)."""
    return {child for child in descendants(pid) if "multiprocessing" in cmdline(child)}


def test_killing_poll_kills_its_parser_processes(tmp_path: Path, feed_server: FeedServer) -> None:
    release = threading.Event()

    def held(request: Request) -> Reply:  # answers once the test is over: the round stays busy
        release.wait(120)
        return Reply(200, {"Content-Type": RSS_TYPE}, generated_body(99, 0))

    feeds = [feed_server.gen_url(n) for n in range(4)] + [feed_server.route("/held.xml", held)]
    path = write_config(
        tmp_path / "broadsheet.toml",
        feeds,
        poll={"workers": 2, "timeout": "300s", "read_timeout": "300s"},
    )
    poller = start(path, "poll", "--all")
    children: set[int] = set()
    try:

        def pool_is_up() -> set[int]:
            found = multiprocessing_children(poller.pid)
            pool = {pid for pid in found if parent(pid) in found}  # forked by the fork server
            return found if pool and feed_server.hits("/held.xml") else set()

        children = wait_for(pool_is_up, "the poll round to parse in worker processes")
        poller.send_signal(signal.SIGKILL)
        poller.wait()
        wait_for(
            lambda: not any(alive(pid) for pid in children),
            f"the parser processes {sorted(children)} to die with their parent",
        )
    finally:
        release.set()
        poller.kill()
        for pid in children:  # whatever survived (an old version) must not outlive the test
            if alive(pid) and "multiprocessing" in cmdline(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        poller.communicate()  # the survivors held its output pipes open
