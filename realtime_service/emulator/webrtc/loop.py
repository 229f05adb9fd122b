"""The one asyncio loop an emulator's WebRTC peers run on, on a daemon thread of its own.

The emulator is a threaded ``http.server``; ``aiortc`` is asyncio. Handler threads hand coroutines to this loop
(:meth:`PeerLoop.run`, always with a bound) and callbacks (:meth:`PeerLoop.call_soon`, never waiting), so a
slow or stuck peer can hold up a request only for its bound, and never the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_JOIN_TIMEOUT = 5.0


class PeerLoop:
    """Started on first use, stopped by :meth:`stop` (the emulator's), started again on next use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="emulator-webrtc", daemon=True)
                self._loop, self._thread = loop, thread
                thread.start()
            return self._loop

    @property
    def started(self) -> bool:
        """Running now (started by a :meth:`run` and not stopped since)."""
        with self._lock:
            return self._loop is not None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coroutine`` on the loop and wait up to ``timeout`` seconds for its result (or its exception);
        ``TimeoutError`` after that, the coroutine cancelled. Never call it from the loop's own thread."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the WebRTC peer loop did not finish within {timeout:g} s") from None

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Schedule ``callback(*args)`` on the loop without waiting (safe from any thread, under any lock). A
        stopped loop is not started again for it: its peers were closed when it stopped, so it is dropped."""
        with self._lock:
            loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # closed since: stop() closed every peer first
            loop.call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        """Stop the loop and join its thread (bounded); a later :meth:`run` starts a new one."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_JOIN_TIMEOUT)
        if not thread.is_alive():
            loop.close()
