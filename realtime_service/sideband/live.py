"""The GPT-Live sideband controller: Responses delegation answered from the Toolbox, client delegation handed
to a ``delegate``, never a silent delegation; the read loop, dedupe, observers and re-attach are the Realtime
controller's (:mod:`.realtime`), through its hooks.

Rules it keeps (SIDEBAND-NOTES §3.4-§3.6, §6, §7):

- every event is deduplicated by ``event_id``: the ~3 s replay on attach and on re-attach after an abnormal close
  resends events with their original ids; nothing is ever sent to start the session (no ``session.start``);
- Responses delegation: function calls come from the inner ``response.output_item.done`` of ``response.event``
  envelopes (``function_call``, ``completed``; a ``reasoning`` item or other nested types are passed by; a
  trimmed snapshot's empty ``output`` means nothing). Each ``call_id`` runs once; when the backend response has
  ended (inner ``response.completed`` / ``.done`` / ``.incomplete`` / ``.failed``) and every call of that
  delegation has its output, each goes back as ``response.item.create`` and then ONE ``response.create``;
- client delegation (``target: "client"``): the ``delegate`` gets a :class:`DelegationContext` (the id, the
  transcript so far); its progress goes as ``session.thinking.append``, its answer as
  ``session.commentary.append``, chunked under the append limit. A delegation with no delegate, whose delegate
  raises, returns nothing or misses ``delegation_deadline`` gets a polite spoken refusal: never silence (§7.1).
  What GPT-Live itself does with an unanswered delegation is UNCONFIRMED (§8.1);
- ``session.closed`` is the session's end: the controller ends with its reason and usage.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..observability import metrics, tracing
from .events import (
    DelegationCreated,
    ErrorEvent,
    OutputItemDone,
    ResponseEnvelope,
    ServerEvent,
    SessionClosed,
    SessionEvent,
    TranscriptDelta,
)
from .realtime import CallEnd, Connect, Observer, RealtimeController, ToolRunner, _closed_error, _confirmed

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

logger = logging.getLogger("realtime_service.sideband")

#: An append's content is at most 500 tokens; chunks of this many characters stay under it (Pipecat's figure).
APPEND_CHARS = 1_200
#: How long a client delegation may go unanswered before the refusal is spoken (seconds).
DELEGATION_DEADLINE = 30.0
#: The span of one client delegation (a root span linked to what attached the session, as the tool spans).
DELEGATION_SPAN = "realtime_service.delegation"
#: The delegation span's attribute of the delegation's id.
DELEGATION_ID = "realtime_service.delegation_id"
#: What is said when a delegation cannot be answered: no detail of why (no traceback, no secret).
REFUSAL = "I'm sorry, I can't help with that right now."
#: The transcript kept for delegates: the newest turns, and at most this many characters in all.
TRANSCRIPT_TURNS = 200
TRANSCRIPT_CHARS = 50_000
#: Delegations remembered (a replayed ``session.delegation.created`` is answered once).
SEEN_DELEGATIONS = 10_000
#: How long an append waits for a re-attach when the socket dropped (then it fails: ``ConnectionError``).
APPEND_WAIT = 15.0
#: Sockets an append is tried on (the first, then re-attached ones) before its error reaches the delegate.
APPEND_TRIES = 3
#: Unfinished Responses delegations with calls kept at once (the oldest is given up beyond it).
MAX_BATCHES = 1_000
#: Inner Responses events that end a backend response (its calls are then all known).
_RESPONSE_END = frozenset({"response.completed", "response.done", "response.incomplete", "response.failed"})


@dataclass(frozen=True, slots=True)
class Turn:
    """One stretch of speech in a GPT-Live transcript: ``speaker`` ``user`` (the caller) or ``assistant``."""

    speaker: str
    text: str


class DelegationContext:
    """What a client ``delegate`` gets: the delegation's id, the transcript so far (a delegation can arrive before
    its sentence is complete, §3.6), and the ways to answer. ``await ctx.think(text)`` adds silent context,
    ``await ctx.say(text)`` is spoken (paraphrased); a returned string is said too."""

    def __init__(self, controller: LiveController, delegation_id: str) -> None:
        self.delegation_id = delegation_id
        self.session_id = controller.call_id
        self._controller = controller
        self.answered = False

    def __repr__(self) -> str:
        return f"DelegationContext(delegation_id={self.delegation_id!r}, turns={len(self.transcript)})"

    @property
    def transcript(self) -> tuple[Turn, ...]:
        """The turns heard since the attach, up to now (read it again later to see the sentence complete)."""
        return self._controller.turns

    @property
    def text(self) -> str:
        """The transcript as ``speaker: text`` lines."""
        return "\n".join(f"{turn.speaker}: {turn.text}" for turn in self.transcript)

    async def think(self, text: str) -> None:
        """``session.thinking.append`` for this delegation (silent progress)."""
        await self._controller.append("thinking", text, self.delegation_id)

    async def say(self, text: str) -> None:
        """``session.commentary.append`` for this delegation (spoken); it answers the delegation once sent (even
        if the session ends before the server's pong confirms it)."""
        sent = asyncio.Event()
        try:
            await self._controller.append("commentary", text, self.delegation_id, sent=sent)
        finally:
            self.answered = self.answered or sent.is_set()


#: A client delegate: sync or async, takes the context, may return the text to say.
Delegate = Callable[[DelegationContext], Any]


@dataclass(slots=True)
class _Speech:
    """A turn being heard: its deltas, joined only when read."""

    speaker: str
    pieces: deque[str] = field(default_factory=deque)
    chars: int = 0


@dataclass(slots=True)
class _Batch:
    """The function calls of one Responses delegation (or backend response)."""

    calls: set[str] = field(default_factory=set)
    outputs: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    ended: bool = False


class LiveController(RealtimeController):
    """The loop behind a Live :class:`~.handle.LiveCallHandle`. ``call_id`` is the session id."""

    _metrics_api: ClassVar[str] = "live"

    def __init__(
        self,
        session_id: str,
        connect: Connect,
        *,
        tools: ToolRunner | None = None,
        delegate: Delegate | None = None,
        observers: Iterable[Observer] = (),
        max_call_seconds: float | None = None,
        max_reattaches: int = 3,
        reattach_delay: float = 0.5,
        tool_timeout: float = 120.0,
        observer_queue: int = 1_000,
        delegation_deadline: float = DELEGATION_DEADLINE,
        refusal: str = REFUSAL,
        delegation_type: str | None = None,
        on_deadline: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        super().__init__(
            session_id,
            connect,
            tools=tools,
            observers=observers,
            max_call_seconds=max_call_seconds,
            max_reattaches=max_reattaches,
            reattach_delay=reattach_delay,
            tool_timeout=tool_timeout,
            observer_queue=observer_queue,
            on_deadline=on_deadline,
        )
        if delegate is not None and not callable(delegate):
            raise TypeError("delegate must be callable")
        if not delegation_deadline > 0:
            raise ValueError("delegation_deadline must be > 0")
        if not isinstance(refusal, str) or not refusal.strip():
            raise ValueError("refusal must be a non-empty string")
        self._delegate = delegate
        self._delegation_deadline = delegation_deadline
        self._refusal = refusal
        #: The session's delegation type once known (given, or read from its events); ``update_session`` keeps it.
        self.delegation_type = delegation_type
        self.delegations_answered = 0
        self.delegations_refused = 0
        self._turns: deque[_Speech] = deque()
        self._transcript_chars = 0
        self._batches: OrderedDict[str, _Batch] = OrderedDict()
        #: Batches sent on the current socket, each with the pong that will show the server read it.
        self._sent_batches: list[tuple[asyncio.Future[float], str, _Batch]] = []
        self._call_batch: dict[str, str] = {}
        self._batch_key: str | None = None
        self._delegations: OrderedDict[str, None] = OrderedDict()
        self._delegate_tasks: set[asyncio.Task[None]] = set()
        self._closed: SessionClosed | None = None
        self._closer: asyncio.Task[Any] | None = None

    # -- the end ----------------------------------------------------------------------------------------------

    def _final_end(self, code: int | None) -> CallEnd | None:
        closed = self._closed
        if closed is None:
            return None
        usage: dict[str, float] = dict(self._usage)
        for key, value in (closed.usage or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                usage[key] = value
        # detail: why this side asked for the end (hung_up, referred, max_call_seconds), None when the API ended it
        return CallEnd(closed.reason or "session_closed", code, usage or None, self._stop_reason, self.reattaches)

    def _own_tasks(self) -> list[asyncio.Task[Any]]:
        tasks: list[asyncio.Task[Any]] = list(self._delegate_tasks)
        if self._closer is not None:
            tasks.append(self._closer)
        return tasks

    @property
    def turns(self) -> tuple[Turn, ...]:
        """The transcript so far, oldest turn first."""
        return tuple(Turn(speech.speaker, "".join(speech.pieces)) for speech in self._turns)

    @property
    def session_closed(self) -> bool:
        """Whether ``session.closed`` arrived."""
        return self._closed is not None

    # -- events -----------------------------------------------------------------------------------------------

    def _dispatch(self, event: ServerEvent) -> None:
        if isinstance(event, TranscriptDelta):
            self._hear(event.role, event.delta)
        elif isinstance(event, ResponseEnvelope):
            self._on_envelope(event)
        elif isinstance(event, DelegationCreated):
            self._on_delegation(event)
        elif isinstance(event, SessionClosed):
            self._on_closed(event)
        elif isinstance(event, SessionEvent) or event.type == "session.started":
            self._learn_delegation_type(event.raw.get("session"))
        elif isinstance(event, ErrorEvent):
            self._log.warning(
                "session %s: the API reported an error: %s", self.call_id, (event.code or "(no code)")[:80]
            )

    def _learn_delegation_type(self, session: Any) -> None:
        delegation = session.get("delegation") if isinstance(session, Mapping) else None
        kind = delegation.get("type") if isinstance(delegation, Mapping) else None
        if isinstance(kind, str) and self.delegation_type is None:
            self.delegation_type = kind

    def _hear(self, speaker: str, delta: str) -> None:
        """Add a delta to the transcript: O(1) per delta (pieces, joined when a delegate reads them), the oldest
        speech dropped beyond :data:`TRANSCRIPT_TURNS` turns or :data:`TRANSCRIPT_CHARS` characters."""
        delta = delta[-TRANSCRIPT_CHARS:]
        if not self._turns or self._turns[-1].speaker != speaker:
            self._turns.append(_Speech(speaker))
        last = self._turns[-1]
        last.pieces.append(delta)
        last.chars += len(delta)
        self._transcript_chars += len(delta)
        while len(self._turns) > TRANSCRIPT_TURNS or self._transcript_chars > TRANSCRIPT_CHARS:
            first = self._turns[0]
            if len(self._turns) > 1:
                self._turns.popleft()
                self._transcript_chars -= first.chars
            else:  # one speaker's endless turn: its oldest pieces go
                piece = first.pieces.popleft()
                first.chars -= len(piece)
                self._transcript_chars -= len(piece)

    def _on_closed(self, event: SessionClosed) -> None:
        self._closed = event
        socket = self._socket
        if socket is not None and self._closer is None:  # the server may keep the socket open: close it
            self._closer = asyncio.get_running_loop().create_task(socket.close())

    # -- Responses delegation ---------------------------------------------------------------------------------

    def _on_envelope(self, envelope: ResponseEnvelope) -> None:
        inner = envelope.inner
        key = envelope.delegation_id or "(no delegation id)"
        if inner.type == "response.created" and self.delegation_type is None:
            self.delegation_type = "responses"
        if isinstance(inner, OutputItemDone):
            if not inner.is_completed_function_call:
                return  # a reasoning or message item, or an interrupted call: nothing to run
            self._batch_key = key
            try:
                self._on_item_done(inner)
            finally:
                self._batch_key = None
        elif inner.type in _RESPONSE_END:
            response = inner.raw.get("response")
            usage = response.get("usage") if isinstance(response, Mapping) else None
            self._add_usage(usage if isinstance(usage, Mapping) else None)
            batch = self._batches.get(key)
            if batch is None:
                batch = self._batches[key] = _Batch()
            batch.ended = True
            if not batch.calls:
                self._batches.pop(key, None)  # hosted tools only, or a text answer: nothing for us to send

    def _claimed(self, call_id: str) -> None:
        key = self._batch_key or "(no delegation id)"
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = _Batch()
            if len(self._batches) > MAX_BATCHES:  # delegations that never end must not grow without bound
                self._ignore("batches", f"function calls of more than {MAX_BATCHES} unfinished delegations")
                _, dropped = self._batches.popitem(last=False)
                for given_up in dropped.calls:
                    self._call_batch.pop(given_up, None)
        batch.calls.add(call_id)
        batch.order.append(call_id)
        self._call_batch[call_id] = key

    def _deliver(self, call_id: str, output: str) -> None:
        key = self._call_batch.pop(call_id, None)
        batch = self._batches.get(key) if key is not None else None
        if batch is None:
            return  # its batch was given up (more than MAX_BATCHES unfinished delegations)
        batch.outputs[call_id] = output

    def _sender_due(self) -> bool:
        return bool(self._batches) or super()._sender_due()

    async def _pump(self) -> None:
        async with self._pump_lock:
            if self._socket is None:
                return
            for key, batch in list(self._batches.items()):
                if not batch.ended or batch.calls - set(batch.outputs):
                    continue
                try:
                    for call_id in batch.order:
                        item = {"type": "function_call_output", "call_id": call_id, "output": batch.outputs[call_id]}
                        await self.send({"type": "response.item.create", "item": item})
                    self._create_number += 1
                    await self.send({"type": "response.create", "event_id": f"evt_rs_create_{self._create_number}"})
                    pong = await self._ping()
                except (ConnectionError, OSError, _closed_error()):
                    return  # not known to have arrived: the whole batch goes on the next socket
                del self._batches[key]
                self._sent_batches = [each for each in self._sent_batches if not _confirmed(each[0])]
                self._sent_batches.append((pong, key, batch))

    def _resend_unconfirmed(self) -> None:
        super()._resend_unconfirmed()
        lost = [(key, batch) for pong, key, batch in self._sent_batches if not _confirmed(pong, late=True)]
        self._sent_batches = []
        for key, batch in reversed(lost):  # first, in the order they were sent (no item ack exists on Live)
            while key in self._batches:  # a new batch of the same delegation came meanwhile
                key += " (again)"
            self._batches[key] = batch
            self._batches.move_to_end(key, last=False)

    # -- client delegation ------------------------------------------------------------------------------------

    def _on_delegation(self, event: DelegationCreated) -> None:
        if event.target is not None and self.delegation_type is None:
            self.delegation_type = "client" if event.target == "client" else event.target
        if event.target != "client":
            return  # Responses: its calls come in response.event; Decisions: not ours to answer
        ident = event.delegation_id
        if len(ident) > 512 or ident in self._delegations:
            if len(ident) > 512:
                self._ignore("delegation_id", "a delegation with an unusable id")
            return
        self._remember(self._delegations, ident, SEEN_DELEGATIONS)
        context = DelegationContext(self, ident)
        task = asyncio.get_running_loop().create_task(self._answer(context), name=f"delegation {ident[:64]}")
        self._delegate_tasks.add(task)
        task.add_done_callback(self._delegate_tasks.discard)

    async def _answer(self, context: DelegationContext) -> None:
        attributes = self._span_attributes(DELEGATION_ID, context.delegation_id)
        with tracing.root_span(DELEGATION_SPAN, attributes, self._link) as span:
            await self._answer_in(context, span)

    async def _answer_in(self, context: DelegationContext, span: tracing.Span) -> None:
        ident = context.delegation_id[:64]
        why: str | None = None
        if self._delegate is None:
            why = "no delegate is configured"
        else:
            try:
                async with asyncio.timeout(self._delegation_deadline):
                    result = await self._call_delegate(context)
                if isinstance(result, str) and result.strip():
                    await context.say(result)
                elif not context.answered:
                    why = "the delegate said nothing"
            except TimeoutError:
                why = None if context.answered else f"no answer within {self._delegation_deadline} s"
            except asyncio.CancelledError:
                if context.answered:  # the session ended after the answer went out: it was answered
                    self._delegation_done("answered", span)
                raise
            except Exception as error:  # the delegate's bug: the caller hears a polite refusal, the call goes on
                why = None if context.answered else f"the delegate raised {type(error).__name__}"
        if why is None:
            self._delegation_done("answered", span)
            return
        self._log.warning("session %s: delegation %s refused: %s", self.call_id, ident, why)
        self._delegation_done("refused", span)
        try:
            await self.append("commentary", self._refusal, context.delegation_id)
        except (ConnectionError, OSError, _closed_error()) as error:
            self._log.warning(
                "session %s: the refusal of %s was not sent: %s", self.call_id, ident, type(error).__name__
            )

    def _delegation_done(self, outcome: str, span: tracing.Span) -> None:
        """A client delegation answered or refused: counted on the handle and the metrics, said on its span."""
        if outcome == "answered":
            self.delegations_answered += 1
        else:
            self.delegations_refused += 1
        metrics.delegation(outcome)
        span.set("realtime_service.outcome", outcome)
        if outcome != "answered":
            span.fail(outcome)

    async def _call_delegate(self, context: DelegationContext) -> Any:
        delegate = self._delegate
        assert delegate is not None
        method = type(delegate).__call__ if not inspect.isroutine(delegate) else None
        if inspect.iscoroutinefunction(delegate) or inspect.iscoroutinefunction(method):
            return await delegate(context)
        result = await asyncio.to_thread(delegate, context)  # a sync delegate must not block the socket
        if inspect.isawaitable(result):
            return await result
        return result

    # -- steering ---------------------------------------------------------------------------------------------

    async def append(
        self, kind: str, text: str, delegation_id: str | None, *, sent: asyncio.Event | None = None
    ) -> None:
        """``session.<kind>.append`` (``instructions``, ``thinking``, ``commentary``) of ``text``, in chunks of
        at most :data:`APPEND_CHARS` characters, each with ``delegation_id`` (``None`` for steering, §7.6).
        ``sent`` is set once every chunk was written on a socket (before its pong confirms them)."""
        if kind not in ("instructions", "thinking", "commentary"):
            raise ValueError(f"unknown append kind {kind!r}")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the text must be a non-empty string")
        chunks = [text[start : start + APPEND_CHARS] for start in range(0, len(text), APPEND_CHARS)]
        failed: ClientConnection | None = None
        for attempt in range(APPEND_TRIES):
            if attempt or self._socket is None:  # between sockets: an answer must not be lost
                await self.wait_for_socket(failed, APPEND_WAIT)  # none in time: send() says so below
                if attempt and self._closed is not None:
                    return  # sent, and then the session ended (session.closed): no one left to tell it to
            failed = self._socket
            try:
                for chunk in chunks:
                    event = {"type": f"session.{kind}.append", "content": chunk, "delegation_id": delegation_id}
                    await self.send(event)
                if sent is not None:
                    sent.set()
                pong = await self._ping()
                async with asyncio.timeout(APPEND_WAIT):
                    await pong  # the server read the text; a socket that drops first gets all of it again
                return
            except TimeoutError:
                return  # sent, but the pong is late: the keepalive ends a dead socket; not sent twice on a guess
            except (ConnectionError, OSError, _closed_error()):
                if self._closed is not None:
                    return  # the session ended under the send: no one left to tell it to
                if attempt + 1 == APPEND_TRIES or self.ended.done():
                    raise


def check_live_update(
    session: Any, delegation_type: str | None, encode_session: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """A Live ``session.update`` body validated before sending (SIDEBAND-NOTES §3.5): only ``delegation`` and
    ``triggers``; the delegation's type cannot change (``delegation_type``, when known), nor can ``null`` reset a
    Responses session; both are checked by the package's Live schemas. A sparse Responses update may leave out
    ``responses.model`` (omitted keys keep their values). Raises ``RequestValidationError`` naming the field."""
    from ..errors import RequestValidationError

    if not isinstance(session, Mapping):
        raise RequestValidationError({"session": ["must be a mapping"]})
    problems: dict[str, list[str]] = {
        f"session.{name}": ["Cannot be updated on a GPT-Live session (only delegation and triggers)."]
        for name in session
        if name not in ("delegation", "triggers")
    }
    body: dict[str, Any] = {}
    probe: dict[str, Any] = {"model": "gpt-live-1"}
    placeholder = False
    if "triggers" in session:
        probe["triggers"] = copy.deepcopy(session["triggers"])
    if "delegation" in session:
        delegation = copy.deepcopy(session["delegation"])
        if delegation is None:
            if delegation_type == "responses":
                problems["session.delegation"] = ["null cannot reset a Responses delegation."]
            body["delegation"] = None
        elif not isinstance(delegation, Mapping):
            problems["session.delegation"] = ["must be a mapping or null"]
        else:
            delegation = dict(delegation)
            kind = delegation.setdefault("type", delegation_type)
            if kind is None:
                problems["session.delegation.type"] = ["Required (the session's delegation type is not known yet)."]
            elif delegation_type is not None and kind != delegation_type:
                problems["session.delegation.type"] = [
                    f"The delegation type cannot change (this session's is {delegation_type})."
                ]
            responses = delegation.get("responses")
            if kind == "responses" and isinstance(responses, Mapping) and "model" not in responses:
                delegation["responses"] = {**responses, "model": "placeholder"}
                placeholder = True
            probe["delegation"] = delegation
    if problems:
        raise RequestValidationError(problems)
    encoded = encode_session(probe)
    if "triggers" in probe:
        body["triggers"] = encoded.get("triggers", [])
    if "delegation" in probe:
        body["delegation"] = encoded["delegation"]
        if placeholder:
            body["delegation"]["responses"].pop("model", None)
    return body


__all__ = ["APPEND_CHARS", "REFUSAL", "Delegate", "DelegationContext", "LiveController", "Turn", "check_live_update"]
