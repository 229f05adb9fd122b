"""The Realtime sideband controller: reads a call's events, runs its function calls once, answers, re-attaches.

Rules it keeps (SIDEBAND-NOTES §2.3, §6, §7):

- a tool runs only from ``response.output_item.done`` whose item is a ``function_call`` with ``status ==
  "completed"``, and at most once per ``call_id``: replays, duplicated events (deduplicated by ``event_id``) and
  re-attaches never run it again (the state lives on the controller, across sockets);
- tools run as tasks, never awaited by the read loop, several at once when a response holds several;
- once no response is under way and every started tool has its output, every ``function_call_output`` goes back
  (``conversation.item.create``) and then **one** ``response.create``; a create is sent only between a
  ``response.done`` and the next ``response.created``, and one refused with
  ``conversation_already_has_active_response`` waits for that response's end and goes again;
- observers get the typed events through a bounded queue and a task each: a slow one drops (counted, logged
  once per burst), never stalls the socket;
- an abnormal close (1006, 1011, ...) re-attaches a bounded number of times with backoff. Whether the real API
  allows a Realtime re-attach is UNCONFIRMED (§6); events during the gap are lost;
- what this side sends is delivered at least once across a drop: each batch (outputs and their
  ``response.create``) is followed by a WebSocket ping, and a batch whose pong had not come back when the socket
  closed is sent again on the next one (frames written just before a drop are often lost; the server reads in
  order, so the pong proves it read the batch). Only a server that read the batch and dropped before its pong
  sees it twice.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from ..observability import metrics, tracing
from .events import ErrorEvent, OutputItemDone, ResponseCreated, ResponseDone, ServerEvent, parse_event

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

logger = logging.getLogger("realtime_service.sideband")  # redacted: redaction.PACKAGE_LOGGERS


class CallLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A call's log lines: ``call_id`` on every record as a field (JSON logs index it; a message is not parsed)."""

    def __init__(self, call_id: str) -> None:
        super().__init__(logger, {"call_id": call_id})

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(kwargs.get("extra") or {}), **(self.extra or {})}
        return msg, kwargs


#: Seconds a REST hang-up or refer waits for the server to confirm what the sideband sent before it (one ping).
FLUSH_TIMEOUT = 2.0
#: Close codes after which a sideband re-attaches (the ``openai`` SDK's retry set; 1006 = no close frame).
REATTACH_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})
#: How many event ids are remembered to drop duplicates and replays, and how many tool call ids.
SEEN_EVENTS = 10_000
SEEN_CALLS = 100_000
#: Each observer's queue: events beyond it are dropped (counted) rather than stalling the socket.
OBSERVER_QUEUE = 1_000
#: The controller's own bound on one tool call (a ToolRunner bounds its tools itself; this is the backstop).
TOOL_TIMEOUT = 120.0
#: A tool output longer than this is replaced by an error: the API limits a message to about 1 MiB anyway.
MAX_OUTPUT_CHARS = 768 * 1024
#: Tools running at once on one call; a call beyond it is answered with an error rather than started (a server
#: that names thousands of calls must not start thousands of tasks).
MAX_RUNNING_TOOLS = 64
ACTIVE_RESPONSE = "conversation_already_has_active_response"
#: The span of one function call answered (run, or refused at once): a root span linked to what attached it.
TOOL_SPAN = "realtime_service.tool_call"
#: The tool span's attribute of the function call's id (the model's ``call_id``).
TOOL_CALL_ID = "realtime_service.tool_call_id"


@runtime_checkable
class ToolRunner(Protocol):
    """What the controller runs tools with (``sideband.tools.Toolbox`` implements it).

    ``definitions()`` are the Realtime session's ``tools`` entries. ``run`` returns the output string (JSON) and
    never raises for a tool's own failure, timeout or bad arguments, nor for an unknown name: it returns an
    ``{"error": ...}`` JSON and logs once. (The controller still guards against one that raises.)"""

    def definitions(self) -> list[dict[str, Any]]: ...

    async def run(self, name: str, arguments: str, *, call_id: str) -> str: ...


#: An observer: a sync or async callable taking each typed :class:`~.events.ServerEvent`.
Observer = Callable[[ServerEvent], Any]
#: Events every attach gets before anything happens (the greeting): they do not show that a socket works, so they
#: do not give a re-attach its budget back (a server that greets and drops would otherwise be re-attached forever).
GREETINGS = frozenset({"session.created", "session.updated"})
#: A call re-attaches at most this many times ``max_reattaches`` in all, however often a socket worked between drops.
LIFETIME_REATTACHES = 10
#: Opens a new socket to the call's sideband (the first attach and each re-attach).
Connect = Callable[[], Awaitable["ClientConnection"]]


@dataclass(frozen=True, slots=True)
class CallEnd:
    """Why a sideband ended. ``reason``: ``server_closed`` (the server closed the socket cleanly: on a Realtime
    call that is the call's end, no other signal exists), ``hung_up`` (:meth:`CallHandle.hangup`), ``referred``,
    ``closed`` (:meth:`CallHandle.close`, on either API: this side let go, the call goes on), ``max_call_seconds``,
    or ``error`` (``detail`` says what: re-attach failed or exhausted). ``code`` is the last socket's close code;
    ``usage`` the summed token usage of the ``response.done`` events seen, if any (a Live session's: its
    ``session.closed`` usage, ``seconds``, plus the backend's token usage). A GPT-Live session that sent
    ``session.closed`` ends with that event's ``reason`` (``close_requested``, ``remote_hangup``, ``expired``,
    ``content``, ``connection_lost``) and ``detail`` says whether this side asked (``hung_up``, ``referred``,
    ``max_call_seconds``; ``None`` when the API ended it)."""

    reason: str
    code: int | None = None
    usage: Mapping[str, float] | None = None
    detail: str | None = None
    reattaches: int = 0


@dataclass(slots=True)
class _Create:
    """A ``response.create`` waiting for its turn; ``outputs`` go first (tool results)."""

    response: dict[str, Any] | None = None
    outputs: list[tuple[str, str]] = field(default_factory=list)


class _ObserverTask:
    """One observer, its bounded queue and the task feeding it."""

    def __init__(self, observer: Observer, controller: RealtimeController, size: int) -> None:
        self.observer = observer
        self.queue: asyncio.Queue[ServerEvent] = asyncio.Queue(maxsize=size)
        self.in_burst = False
        self.failures = 0
        self.task = asyncio.get_running_loop().create_task(self._feed(controller))

    def offer(self, event: ServerEvent, controller: RealtimeController) -> None:
        try:
            self.queue.put_nowait(event)
            self.in_burst = False
        except asyncio.QueueFull:
            controller.dropped_events += 1
            if not self.in_burst:
                self.in_burst = True
                controller._log.warning(
                    "call %s: observer %s is behind; dropping events (%d dropped so far)",
                    controller.call_id,
                    _callable_name(self.observer),
                    controller.dropped_events,
                )

    async def _feed(self, controller: RealtimeController) -> None:
        while True:
            event = await self.queue.get()
            try:
                result = self.observer(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception as error:  # an observer's bug must not end the call: counted, logged once
                self.failures += 1
                if self.failures == 1:
                    controller._log.warning(
                        "call %s: observer %s raised %s (further failures not logged)",
                        controller.call_id,
                        _callable_name(self.observer),
                        type(error).__name__,
                    )


def _callable_name(function: object) -> str:
    return str(getattr(function, "__qualname__", type(function).__name__))[:80]


def _defined_names(tools: ToolRunner | None) -> frozenset[str]:
    """The names the tools define (a closed set per deployment); none when they cannot say."""
    if tools is None:
        return frozenset()
    try:
        definitions = tools.definitions()
        return frozenset(
            name for each in definitions if isinstance(each, Mapping) and isinstance(name := each.get("name"), str)
        )
    except Exception:  # a runner's broken definitions(): every call counts as other
        return frozenset()


#: How a runner's failure answer starts (``json.dumps({"error": ...})``, as a Toolbox writes it).
_ERROR_PREFIX = '{"error": '


def _error_output(message: str) -> str:
    return json.dumps({"error": message})


class RealtimeController:
    """The loop behind a :class:`~.handle.CallHandle`. Build it, :meth:`start` it with the first socket, and
    await :attr:`ended`. Everything runs on one event loop; nothing here is thread-safe."""

    #: The ``api`` label of this controller's metrics.
    _metrics_api: ClassVar[str] = "realtime"

    def __init__(
        self,
        call_id: str,
        connect: Connect,
        *,
        tools: ToolRunner | None = None,
        observers: Iterable[Observer] = (),
        max_call_seconds: float | None = None,
        max_reattaches: int = 3,
        reattach_delay: float = 0.5,
        tool_timeout: float = TOOL_TIMEOUT,
        observer_queue: int = OBSERVER_QUEUE,
        on_deadline: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        if tools is not None and not isinstance(tools, ToolRunner):
            raise TypeError("tools must provide definitions() and async run(name, arguments, *, call_id)")
        if max_call_seconds is not None and not max_call_seconds > 0:
            raise ValueError("max_call_seconds must be > 0")
        if max_reattaches < 0:
            raise ValueError("max_reattaches must be >= 0")
        self.call_id = call_id
        self._log = CallLog(call_id)
        self._connect = connect
        self._tools = tools
        self._observer_list = list(observers)
        for observer in self._observer_list:
            if not callable(observer):
                raise TypeError("each observer must be callable")
        self._observer_queue = observer_queue
        self._max_call_seconds = max_call_seconds
        self._max_reattaches = max_reattaches
        self._reattach_delay = reattach_delay
        self._tool_timeout = tool_timeout
        self._on_deadline = on_deadline
        #: Counters a host may read (also on the handle).
        self.dropped_events = 0
        self.duplicate_events = 0
        self.ignored_events = 0
        self.tools_run = 0
        self.reattaches = 0
        #: Re-attaches since a socket last delivered an event other than ``error`` (the budget, as the SDK's).
        self._attempts = 0
        self._socket: ClientConnection | None = None
        #: Notified when a socket is attached or the controller ends (a sender that must not lose its event waits
        #: on it across a re-attach: :meth:`wait_for_socket`).
        self._socket_changed = asyncio.Condition()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._calls: OrderedDict[str, None] = OrderedDict()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._order: dict[str, int] = {}
        self._outputs: list[tuple[str, str]] = []
        self._creates: deque[_Create] = deque()
        #: Batches sent on the current socket, each with the pong that will show the server read it.
        self._unconfirmed: list[tuple[asyncio.Future[float], _Create]] = []
        self._busy = False
        self._own_create: str | None = None
        self._create_number = 0
        self._pump_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._sender_task: asyncio.Task[None] | None = None
        self._deadline_task: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self._stop_reason: str | None = None
        self._usage: dict[str, int] = {}
        self._warned: set[str] = set()
        self._observers: list[_ObserverTask] = []
        self._task: asyncio.Task[CallEnd] | None = None
        self._finishing = False
        #: The ``tool`` labels: the names the tools define, read at the first function call (metrics on only).
        self._tool_names: frozenset[str] | None = None
        #: The span current when the controller started (its request's, a host's), linked from its tool spans.
        self._link: Any = None
        self.ended: asyncio.Future[CallEnd] = asyncio.get_running_loop().create_future()

    # -- lifetime ---------------------------------------------------------------------------------------------

    def start(self, socket: ClientConnection) -> None:
        """Run the loop on ``socket`` (already open) as a task; its end resolves :attr:`ended`."""
        self._socket = socket  # usable by the handle at once (update_session before the first event)
        self._link = tracing.current_link()
        self._observers = [_ObserverTask(each, self, self._observer_queue) for each in self._observer_list]
        loop = asyncio.get_running_loop()
        self._sender_task = loop.create_task(self._sender(), name=f"sideband sender {self.call_id}")
        self._task = loop.create_task(self._run(socket), name=f"sideband {self.call_id}")
        # counted from here; the task's done callback ends it even if the task is cancelled before it ran
        metrics.sideband_attached(self._metrics_api)
        self._task.add_done_callback(functools.partial(self._count_end, time.monotonic()))

    def _count_end(self, started: float, _task: asyncio.Task[CallEnd]) -> None:
        ended = self.ended.result() if self.ended.done() and not self.ended.cancelled() else None
        reason = ended.reason if ended is not None else self._stop_reason or "closed"
        metrics.sideband_ended(self._metrics_api, reason, time.monotonic() - started, self.dropped_events)

    async def stop(self, reason: str) -> CallEnd:
        """End the controller for ``reason`` (the socket closed by us), and wait for its end."""
        if self._stop_reason is None:
            self._stop_reason = reason
        socket = self._socket
        if socket is not None:
            await socket.close()
        elif self._task is not None and not self._task.done() and not self._finishing:
            self._task.cancel()  # between sockets (a re-attach backoff): nothing to close
        return await asyncio.shield(self.ended)

    async def wait(self) -> CallEnd:
        """The end, once it comes (cancelling the waiter does not cancel the controller)."""
        return await asyncio.shield(self.ended)

    async def flush(self, timeout: float = FLUSH_TIMEOUT) -> bool:
        """Wait (at most ``timeout`` s) until the server has read everything sent so far: a ping, and its pong.
        A REST hang-up or refer comes after it, so a greeting sent just before is not raced by the call's end
        (the REST call and the socket are two connections). ``False`` when not attached or no pong came."""
        try:
            pong = await self._ping()
            async with asyncio.timeout(timeout):
                await asyncio.shield(pong)
        except (ConnectionError, OSError, TimeoutError, _closed_error()):
            return False
        return True

    def mark_stopping(self, reason: str | None) -> None:
        """Say why the socket is about to close (a REST hang-up or refer), or ``None`` to take it back."""
        self._stop_reason = reason

    async def _run(self, socket: ClientConnection) -> CallEnd:
        deadline = (
            asyncio.get_running_loop().call_later(self._max_call_seconds, self._deadline)
            if self._max_call_seconds is not None
            else None
        )
        end = CallEnd("error", detail="the controller stopped unexpectedly")
        try:
            end = await self._attached_loop(socket)
        except asyncio.CancelledError:
            end = CallEnd(self._stop_reason or "closed", usage=self._usage_or_none(), reattaches=self.reattaches)
        except Exception as error:  # a bug here must still end the call cleanly and say so
            self._log.exception("call %s: the sideband controller failed", self.call_id)
            end = CallEnd("error", detail=type(error).__name__, reattaches=self.reattaches)
        finally:
            self._finishing = True  # stop() must not cancel the clean-up below (the end would never be set)
            if deadline is not None:
                deadline.cancel()
            try:
                await self._shutdown()
            finally:  # even if cancelled from outside meanwhile: whoever waits for the end gets it
                if not self.ended.done():
                    self.ended.set_result(end)
                async with self._socket_changed:
                    self._socket_changed.notify_all()
        return end

    async def wait_for_socket(self, other_than: ClientConnection | None, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an attached socket other than ``other_than`` (one that failed under
        a send); ``False`` when none came or the controller ended."""
        try:
            async with asyncio.timeout(timeout), self._socket_changed:
                await self._socket_changed.wait_for(
                    lambda: self.ended.done() or (self._socket is not None and self._socket is not other_than)
                )
        except TimeoutError:
            return False
        return not self.ended.done()

    async def _attached_loop(self, socket: ClientConnection) -> CallEnd:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        while True:
            async with self._socket_changed:
                self._socket = socket
                self._socket_changed.notify_all()
            self._busy, self._own_create = False, None  # a new socket: no response of ours is known under way
            self._kick()
            while True:
                try:
                    message = await socket.recv()
                except ConnectionClosed:
                    break
                await self._on_message(message)
            self._socket = None
            self._resend_unconfirmed()
            code = socket.close_code
            final = self._final_end(code)
            if final is not None:
                return final
            if self._stop_reason is not None:
                return self._end(self._stop_reason, code)
            if code not in REATTACH_CODES:
                return self._end("server_closed", code)
            if self._attempts >= self._max_reattaches:
                return self._end("error", code, f"the sideband closed ({code}) after {self._attempts} re-attaches")
            if self.reattaches >= self._max_reattaches * LIFETIME_REATTACHES:
                detail = f"the sideband closed ({code}) after {self.reattaches} re-attaches in all"
                return self._end("error", code, detail)
            self.reattaches += 1
            self._attempts += 1
            self._log.warning(
                "call %s: the sideband closed abnormally (%s); re-attach %d of %d",
                self.call_id,
                code,
                self._attempts,
                self._max_reattaches,
            )
            await asyncio.sleep(min(self._reattach_delay * 2 ** (self._attempts - 1), 8.0))
            try:
                socket = await self._connect()
                self.on_reattached()
                metrics.sideband_reattached(self._metrics_api)
            except InvalidStatus as refused:  # the call is gone (404) or the key no longer works
                status = refused.response.status_code
                return self._end("server_closed" if status == 404 else "error", code, f"re-attach refused: {status}")
            except (InvalidHandshake, OSError, TimeoutError) as error:
                return self._end("error", code, f"re-attach failed: {type(error).__name__}")

    def _final_end(self, code: int | None) -> CallEnd | None:
        """The end a protocol's own last event gave (GPT-Live's ``session.closed``); ``None``: decide by the socket."""
        return None

    def on_reattached(self) -> None:
        """Called once a re-attach opened its socket (a subclass resets per-socket state here)."""

    def _end(self, reason: str, code: int | None, detail: str | None = None) -> CallEnd:
        return CallEnd(reason, code, self._usage_or_none(), detail, self.reattaches)

    def _usage_or_none(self) -> Mapping[str, int] | None:
        return dict(self._usage) if self._usage else None

    def _deadline(self) -> None:
        self._log.info("call %s: max_call_seconds reached; ending the call", self.call_id)
        self._deadline_task = asyncio.get_running_loop().create_task(self._end_at_deadline())

    async def _end_at_deadline(self) -> None:
        self._stop_reason = self._stop_reason or "max_call_seconds"
        if self._on_deadline is not None:
            try:
                await self._on_deadline()
            except Exception as error:  # the socket is closed below whatever the REST hang-up did
                self._log.warning(
                    "call %s: hanging up at max_call_seconds failed: %s", self.call_id, type(error).__name__
                )
        await self.stop("max_call_seconds")

    async def _shutdown(self) -> None:
        tasks = [*self._running.values(), *self._own_tasks(), *(each.task for each in self._observers)]
        if self._sender_task is not None:
            tasks.append(self._sender_task)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close()

    def _own_tasks(self) -> list[asyncio.Task[Any]]:
        """A subclass's tasks to cancel at the end (besides tools, observers and the sender)."""
        return []

    # -- events -----------------------------------------------------------------------------------------------

    async def _on_message(self, message: str | bytes) -> None:
        if not isinstance(message, str):
            self._ignore("binary", "a binary frame")
            return
        try:
            payload = json.loads(message)
        except ValueError:
            self._ignore("json", "a frame that is not JSON")
            return
        if not isinstance(payload, dict):
            self._ignore("object", "a frame that is not a JSON object")
            return
        event = parse_event(payload)
        if not isinstance(event, ErrorEvent) and event.type not in GREETINGS:
            self._attempts = 0  # this socket works: a later drop gets the whole budget again
        if event.event_id is not None:
            if event.event_id in self._seen:
                self.duplicate_events += 1
                return
            self._remember(self._seen, event.event_id, SEEN_EVENTS)
        self._dispatch(event)
        for observer in self._observers:
            observer.offer(event, self)
        if self._sender_due():  # else the sender has nothing to do: no wake-up (a task switch) per event
            self._kick()

    def _sender_due(self) -> bool:
        """Whether the sender may have something to send (a subclass with queues of its own adds them)."""
        return bool(self._creates or self._outputs)

    def _dispatch(self, event: ServerEvent) -> None:
        """Act on one new (not duplicated) event; observers get it afterwards."""
        if isinstance(event, ResponseCreated):
            # not necessarily ours (the server's VAD may have started one): a refusal of ours may still follow
            self._busy = True
        elif isinstance(event, ResponseDone):
            self._busy, self._own_create = False, None
            self._add_usage(event.usage)
        elif isinstance(event, OutputItemDone):
            self._on_item_done(event)
        elif isinstance(event, ErrorEvent):
            self._on_error(event)

    def _ignore(self, key: str, what: str) -> None:
        self.ignored_events += 1
        if key not in self._warned:
            self._warned.add(key)
            self._log.warning("call %s: ignored %s from the sideband (further ones not logged)", self.call_id, what)

    @staticmethod
    def _remember(seen: OrderedDict[str, None], key: str, limit: int) -> None:
        seen[key] = None
        if len(seen) > limit:
            seen.popitem(last=False)

    def _add_usage(self, usage: Mapping[str, Any] | None) -> None:
        for key, value in (usage or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                self._usage[key] = self._usage.get(key, 0) + value

    def _on_error(self, event: ErrorEvent) -> None:
        if event.client_event_id is None or event.client_event_id != self._own_create:
            self._log.warning("call %s: the API reported an error: %s", self.call_id, event.code or "(no code)")
            return
        self._own_create = None
        if event.code == ACTIVE_RESPONSE:  # a response we did not see start is running: go again after it
            self._busy = True
            self._creates.appendleft(_Create())
        else:
            self._busy = False
            self._log.warning("call %s: response.create refused: %s", self.call_id, event.code or "(no code)")

    def _on_item_done(self, event: OutputItemDone) -> None:
        if not event.is_completed_function_call:
            return
        call_id = event.call_id
        if not call_id or len(call_id) > 512:
            self._ignore("call_id", "a function call without a usable call_id")
            return
        if call_id in self._calls:
            return
        self._remember(self._calls, call_id, SEEN_CALLS)
        self._order[call_id] = len(self._order)
        self._claimed(call_id)
        if self._tools is None:
            self._tool_answered(call_id, event.name, "no_tools")
            self._deliver(call_id, _error_output("no tools are available on this call"))
        elif not event.name:
            self._tool_answered(call_id, event.name, "bad_call")
            self._deliver(call_id, _error_output("the function call has no name"))
        elif not isinstance(event.arguments, str):
            self._tool_answered(call_id, event.name, "bad_call")
            self._deliver(call_id, _error_output("the arguments are not a JSON string"))
        elif len(self._running) >= MAX_RUNNING_TOOLS:
            self._ignore("busy", f"a function call beyond {MAX_RUNNING_TOOLS} running at once (answered with an error)")
            self._tool_answered(call_id, event.name, "too_many")
            self._deliver(call_id, _error_output("too many tool calls at once"))
        else:
            self._running[call_id] = asyncio.get_running_loop().create_task(
                self._run_tool(self._tools, call_id, event.name, event.arguments), name=f"tool {call_id}"
            )

    async def _run_tool(self, tools: ToolRunner, call_id: str, name: str, arguments: str) -> None:
        with tracing.root_span(TOOL_SPAN, self._span_attributes(TOOL_CALL_ID, call_id), self._link) as span:
            started = time.monotonic()
            outcome = "ok"
            try:
                async with asyncio.timeout(self._tool_timeout):
                    output = await tools.run(name, arguments, call_id=call_id)
                if not isinstance(output, str):
                    output, outcome = _error_output("the tool returned no text"), "error"
                elif len(output) > MAX_OUTPUT_CHARS:
                    output, outcome = _error_output("the tool's output was too large"), "too_large"
                elif output.startswith(_ERROR_PREFIX):
                    outcome = "error"  # the runner's failure answer: a Toolbox's timeout, bad arguments, unknown name
            except TimeoutError:
                self._log.warning(
                    "call %s: tool call %s timed out after %s s", self.call_id, call_id[:64], self._tool_timeout
                )
                output, outcome = _error_output("the tool timed out"), "timeout"
            except Exception as error:  # the runner broke its contract: the model hears of a failure, the call goes on
                self._log.warning("call %s: tool call %s raised %s", self.call_id, call_id[:64], type(error).__name__)
                output, outcome = _error_output("the tool failed"), "error"
            self._tool_answered(call_id, name, outcome, time.monotonic() - started, span)
        self.tools_run += 1
        self._running.pop(call_id, None)
        self._deliver(call_id, output)
        self._kick()

    def _tool_answered(
        self, call_id: str, name: object, outcome: str, seconds: float | None = None, span: tracing.Span | None = None
    ) -> None:
        """Count a function call answered and say it on its span (``span``: the run's; none: one made here, for a
        call refused at once): its ``tool`` label only from the tools' own definitions, its outcome the metric's."""
        if span is None:
            with tracing.root_span(TOOL_SPAN, self._span_attributes(TOOL_CALL_ID, call_id), self._link) as refused:
                self._tool_answered(call_id, name, outcome, seconds, refused)
            return
        counting = metrics.enabled()
        if not counting and not span.recording:
            return
        if self._tool_names is None:
            self._tool_names = _defined_names(self._tools)
        tool = metrics.tool_label(name, self._tool_names)
        if counting:
            metrics.tool_call(self._metrics_api, tool, outcome, seconds)
        span.set("realtime_service.tool", tool)
        span.set("realtime_service.outcome", outcome)
        if outcome != "ok":
            span.fail(outcome)

    def _span_attributes(self, key: str, item_id: str) -> dict[str, object]:
        """A tool call's or delegation's span attributes known at its start: the api, the call's (Live session's)
        id, and ``key``: the function call's (delegation's) id; an id is kept only if
        :func:`~..observability.tracing.safe_value` passes it (one that holds a number or a secret is dropped)."""
        return {"realtime_service.api": self._metrics_api, "realtime_service.call_id": self.call_id, key: item_id}

    def _claimed(self, call_id: str) -> None:
        """A new call was taken on (before its output can exist): a subclass files it with its batch."""

    def _deliver(self, call_id: str, output: str) -> None:
        """A call's output is ready: it waits for the batch's ``response.create``."""
        self._outputs.append((call_id, output))

    # -- sending ----------------------------------------------------------------------------------------------

    def queue_response(self, response: dict[str, Any] | None) -> None:
        """Queue a ``response.create`` (``response`` its body, if any), sent when no response is under way."""
        self._creates.append(_Create(response=response))

    async def send(self, event: dict[str, Any]) -> None:
        """Send one client event now on the current socket (raises ``ConnectionError`` between sockets)."""
        socket = self._socket
        if socket is None:
            raise ConnectionError("the sideband is not attached")
        async with self._send_lock:
            await socket.send(json.dumps(event))

    def _kick(self) -> None:
        """Wake the sender. The read loop never sends itself: a large send waiting for a peer that is itself
        waiting for us to read would stall both (found with a 512 KiB tool output)."""
        self._wake.set()

    async def pump(self) -> None:
        """Send what is due now, on the caller's task (:meth:`queue_response` callers use it: a ``say`` then a
        ``hangup`` must not race the sender task); what must wait for a response's end goes later."""
        try:
            await self._pump()
        except Exception as error:  # as the sender: logged, the next event retries
            self._log.warning("call %s: sending failed: %s", self.call_id, type(error).__name__)

    async def _sender(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._pump()
            except Exception as error:  # never lose the sender: log, the next event retries
                self._log.warning("call %s: sending failed: %s", self.call_id, type(error).__name__)

    async def _pump(self) -> None:
        async with self._pump_lock:
            if self._busy or self._socket is None:
                return
            if self._outputs and not self._running:
                batch = sorted(self._outputs, key=lambda pair: self._order.get(pair[0], 0))  # in call order
                self._outputs = []
                self._order.clear()
                self._creates.appendleft(_Create(outputs=batch))
            if not self._creates:
                return
            create = self._creates.popleft()
            try:
                for call_id, output in create.outputs:
                    item = {"type": "function_call_output", "call_id": call_id, "output": output}
                    await self.send({"type": "conversation.item.create", "item": item})
                self._create_number += 1
                event_id = f"evt_rs_create_{self._create_number}"
                event: dict[str, Any] = {"type": "response.create", "event_id": event_id}
                if create.response:
                    event["response"] = create.response
                self._busy, self._own_create = True, event_id
                await self.send(event)
                pong = await self._ping()
                self._unconfirmed = [each for each in self._unconfirmed if not _confirmed(each[0])]
                self._unconfirmed.append((pong, create))
            except (ConnectionError, OSError, _closed_error()):
                self._busy, self._own_create = False, None
                self._creates.appendleft(create)  # not known to have arrived: the whole batch goes on the next socket

    async def _ping(self) -> asyncio.Future[float]:
        """A ping after what was just sent; its pong shows that the server read everything sent before it."""
        socket = self._socket
        if socket is None:
            raise ConnectionError("the sideband is not attached")
        async with self._send_lock:
            pong = await socket.ping()
        return asyncio.ensure_future(pong)

    def _resend_unconfirmed(self) -> None:
        """The socket closed: batches whose pong had not come back are sent again on the next socket."""
        lost = [create for pong, create in self._unconfirmed if not _confirmed(pong, late=True)]
        self._unconfirmed = []
        self._creates.extendleft(reversed(lost))


def _confirmed(pong: asyncio.Future[float], *, late: bool = False) -> bool:
    """Whether ``pong`` came back (a failed one's exception is retrieved on the way; ``late``: also when it fails
    after this call, so that no "exception was never retrieved" is logged)."""
    if not pong.done():
        if late:
            pong.add_done_callback(_confirmed)
        return False
    return not pong.cancelled() and pong.exception() is None


def _closed_error() -> type[Exception]:
    from websockets.exceptions import ConnectionClosed

    return ConnectionClosed


__all__ = ["REATTACH_CODES", "CallEnd", "Observer", "RealtimeController", "ToolRunner"]
