"""Ctrl-C ends a round even when a thread other than the main one takes the signal."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from processes import WAIT

# The main thread waits in the event loop with nothing scheduled; another thread, running
# Python code, takes the SIGINT. CPython notes it there but does not wake the main thread, so
# plain ``asyncio.run`` would wait for the next network event, here forever.
SCRIPT = textwrap.dedent(
    """
    import asyncio, signal, threading, time
    from ingest.interrupt import interruptible

    waiting = threading.Event()

    def other_thread() -> None:
        waiting.wait()
        time.sleep(0.2)  # the main thread is asleep in epoll_wait by now
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        while True:
            time.sleep(0.01)

    async def round_() -> None:
        waiting.set()
        await asyncio.get_running_loop().create_future()  # a feed that never answers

    threading.Thread(target=other_thread, daemon=True).start()
    asyncio.run(interruptible(round_()))
    """
)


def test_a_ctrl_c_another_thread_takes_still_ends_the_round() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode != 0
    assert done.stderr.rstrip().endswith("KeyboardInterrupt"), done.stderr
