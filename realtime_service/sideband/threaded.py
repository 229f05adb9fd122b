"""Running sideband controllers from a synchronous host (Flask, waitress, a CLI): one thread, its own event loop.

A request handler must never wait for a call to end. ``SidebandThread.submit(factory)`` schedules a coroutine on
the thread's loop and returns a ``concurrent.futures.Future`` at once; the handler returns while the call goes
on. ``stop()`` cancels what still runs (each controller then closes its socket and its tasks) and joins the
thread::

    sidebands = SidebandThread()
    sidebands.start()
    future = sidebands.submit(lambda: attend(service, call_id))   # attend: your ``async def``
    ...
    sidebands.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class SidebandThread:
    """A daemon thread running one asyncio loop for sideband work. Thread-safe: ``submit`` from any thread."""

    def __init__(self, name: str = "realtime-sidebands") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._futures: set[concurrent.futures.Future[Any]] = set()

    def __enter__(self) -> SidebandThread:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the thread and its loop (once; later calls do nothing)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        self._ready.wait()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def submit(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
        """Run ``factory()`` on the loop; returns at once with a future of its result."""
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("the SidebandThread is not running: call start() first")

        async def run() -> T:
            return await factory()

        future = asyncio.run_coroutine_threadsafe(run(), loop)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what still runs, wait for it to unwind (sockets closed), stop the loop and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with self._lock:
            pending = list(self._futures)
        for future in pending:
            future.cancel()
        concurrent.futures.wait(pending, timeout=timeout)

        async def drain() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if loop.is_running():
            asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        with self._lock:
            self._thread, self._loop = None, None
            self._ready.clear()


__all__ = ["SidebandThread"]
