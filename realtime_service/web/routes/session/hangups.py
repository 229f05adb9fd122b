"""Cost control: hang up every call or Live session this process started once it has lasted
``server.max_call_seconds``.

One daemon thread per process keeps a heap of deadlines and calls the service's ``hangup_call`` or
``hangup_live_session`` when one is due: the same for waitress and uvicorn (the async route only pushes onto
the heap, which never blocks the event loop). A hang-up the API answers with 404 is done (the call ended on its
own); one that fails after the service's own retries is tried again :data:`RETRY_DELAY` seconds later, at most
:data:`ATTEMPTS` times, then logged as left running.

The timers live in this process's memory only. A restart, a crash or a ``kill -9`` forgets them: calls started
before keep running until they end by themselves. :meth:`HangupScheduler.stop` (on a graceful shutdown) logs
the ids it leaves running, and every scheduled hang-up is logged when it is scheduled, so an operator can find
them and hang them up (``docs/signaling.md``, "Cost control").
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from realtime_service.errors import APIStatusError, RequestValidationError
from realtime_service.observability import metrics

logger = logging.getLogger("realtime_service.web.hangups")

RETRY_DELAY = 5.0
ATTEMPTS = 3


@dataclass(order=True, slots=True)
class _Due:
    due: float
    order: int
    api: str = field(compare=False)
    call_id: str = field(compare=False)
    attempt: int = field(compare=False, default=1)


class HangupScheduler:
    """Hang up calls (``api`` ``realtime``) and Live sessions (``live``) ``max_seconds`` after they started.

    ``service`` is a zero-argument callable returning the service (a container provider). ``clock`` is
    ``time.monotonic`` unless a test gives its own; :meth:`run_due` does the work the thread does, for tests
    that drive the clock themselves (then :meth:`start` is not called).
    """

    def __init__(
        self, service: Callable[[], Any], max_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._service = service
        self.max_seconds = max_seconds
        self._clock = clock
        self._heap: list[_Due] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def schedule(self, api: str, call_id: str, *, now: bool = False) -> None:
        """Hang ``call_id`` up ``max_seconds`` from now, or at once (``now``: a call whose answer was lost, that no
        browser can join), with the same retries."""
        delay = 0.0 if now else self.max_seconds
        with self._changed:
            heapq.heappush(self._heap, _Due(self._clock() + delay, next(self._order), api, call_id))
            self._changed.notify()
        metrics.hangup("scheduled")
        why = "its answer was lost" if now else "server.max_call_seconds"
        logger.info("hang-up of %s %s scheduled in %.0f s (%s)", api, call_id, delay, why)

    def pending(self) -> list[tuple[str, str, float]]:
        """``(api, id, seconds left)`` of every hang-up still to come, soonest first."""
        now = self._clock()
        with self._changed:
            return [(d.api, d.call_id, max(0.0, d.due - now)) for d in sorted(self._heap)]

    def run_due(self) -> int:
        """Hang up everything due now; returns how many hang-ups were attempted."""
        done = 0
        for item in self._take_due():
            done += 1
            self._hang_up(item)
        return done

    def _take_due(self) -> Iterator[_Due]:
        while True:
            with self._changed:
                if not self._heap or self._heap[0].due > self._clock():
                    return
                item = heapq.heappop(self._heap)
            yield item

    def _hang_up(self, item: _Due) -> None:
        service = self._service()
        try:
            if item.api == "live":
                service.hangup_live_session(item.call_id)
            else:
                service.hangup_call(item.call_id)
        except APIStatusError as exc:
            if exc.status_code == 404:
                metrics.hangup("already_ended")
                logger.info(
                    "%s %s had already ended (404 on hang-up)", item.api, item.call_id, extra={"call_id": item.call_id}
                )
                return
            self._again(item, f"{exc.status_code} {exc.code or ''}".strip())
            return
        except RequestValidationError as exc:  # an id the service refuses to put in a path: never retried
            metrics.hangup("failed")
            logger.error("cannot hang up %s %r: %s", item.api, item.call_id, exc, extra={"call_id": item.call_id})
            return
        except Exception as exc:  # connection errors, timeouts, a bug: try again, never lose the call silently
            self._again(item, type(exc).__name__)
            return
        metrics.hangup("done")
        logger.info(
            "hung up %s %s after %.0f s (server.max_call_seconds)",
            item.api,
            item.call_id,
            self.max_seconds,
            extra={"call_id": item.call_id},
        )

    def _again(self, item: _Due, reason: str) -> None:
        if item.attempt >= ATTEMPTS:
            metrics.hangup("failed")
            logger.error(
                "hang-up of %s %s failed %d times (%s): it may still be running, hang it up by hand",
                item.api,
                item.call_id,
                item.attempt,
                reason,
            )
            return
        metrics.hangup("retrying")
        logger.warning(
            "hang-up of %s %s failed (%s): trying again in %.0f s", item.api, item.call_id, reason, RETRY_DELAY
        )
        with self._changed:
            heapq.heappush(
                self._heap,
                _Due(self._clock() + RETRY_DELAY, next(self._order), item.api, item.call_id, item.attempt + 1),
            )
            self._changed.notify()

    # -- the thread ---------------------------------------------------------------------------------------

    def start(self) -> HangupScheduler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="call-hangups", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._stopped:
                    return
                wait = self._heap[0].due - self._clock() if self._heap else None
                if wait is None or wait > 0:
                    self._changed.wait(timeout=wait)
                    continue
            try:
                self.run_due()
            except Exception:  # the loop must outlive any one failure
                logger.exception("hang-up loop failed")

    def stop(self) -> None:
        """Stop the thread. What is still scheduled is not hung up (a deploy must not end live calls): each id
        is logged, since its timer is lost."""
        with self._changed:
            self._stopped = True
            left = sorted(self._heap)
            self._heap.clear()
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        if left:
            logger.warning(
                "stopping with %d call(s) still running whose hang-up timers are now lost: %s",
                len(left),
                ", ".join(f"{item.api} {item.call_id}" for item in left),
            )


def open_hangups(settings: Any, service: Callable[[], Any]) -> Iterator[HangupScheduler | None]:
    """The container's resource: a running scheduler under ``server.max_call_seconds``, else ``None``."""
    if settings.max_call_seconds is None:
        yield None
        return
    scheduler = HangupScheduler(service, settings.max_call_seconds).start()
    try:
        yield scheduler
    finally:
        scheduler.stop()
