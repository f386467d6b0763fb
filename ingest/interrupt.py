"""Ctrl-C for a round run with ``asyncio.run``, delivered even when another thread takes it.

``asyncio.run`` cancels its main task on SIGINT through a Python-level handler, which runs only
when the main thread next executes bytecode. A process-directed signal may be taken by another
thread instead (the store writer, a resolver thread, one the parser pool started), for instance
while the main thread briefly blocks SIGINT as multiprocessing starts its helpers; CPython then
notes the signal but the main thread, asleep in the event loop's ``epoll_wait``, is not woken,
so the Ctrl-C waits for the next network event: a round waiting on one slow feed went on as if
it had never come. ``loop.add_signal_handler`` routes the signal through the loop's wakeup
file descriptor, which the C-level handler writes from whichever thread took it: the loop wakes
at once. The first Ctrl-C cancels the round (it unwinds and the command reports the
interruption as ``KeyboardInterrupt``); a second one stops it on the spot.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def interruptible(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work``; SIGINT cancels it (KeyboardInterrupt), a second SIGINT stops the loop."""
    if threading.current_thread() is not threading.main_thread():
        return await work  # signals reach the main thread's loop only
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    presses = 0

    def pressed() -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            raise KeyboardInterrupt
        task.cancel()

    loop.add_signal_handler(signal.SIGINT, pressed)
    try:
        return await task
    except asyncio.CancelledError:
        if presses:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)
