"""A Realtime call's conversation as every connection of the call sees it: items created on one connection are
announced on all of them.

SIDEBAND-NOTES (§1, §2.3) and CALLS-LIVE-NOTES: a sideband is a second connection to the *same* session, so an
item it creates (a tool's ``function_call_output``) is an item of the call's conversation, and the browser's data
channel receives its ``conversation.item.added``/``done`` as the sideband does (the creator included, as the API
does); so does an item a primary socket's audio commit creates, and two sidebands see each other's. Without this a
page (or a second server) watching the call never learns that a tool was answered.

One :class:`Conversations` per :class:`~.call_registry.CallRegistry` (so per emulator): connections join when
they attach and leave when their loop ends; ``previous_item_id`` is the call's last finished item, whichever
connection heard of it first.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .call_registry import CallRegistry
from .core import SocketClosed


class Member(Protocol):
    """A connection of a call: what the conversation needs of it."""

    def send(self, event: Mapping[str, Any]) -> None: ...


class Conversations:
    """Each call's joined connections and its last finished item."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[str, list[Member]] = {}
        self._last: dict[str, str] = {}

    def join(self, call_id: str, member: Member) -> Callable[[], None]:
        """``member`` hears the call's created items from now on; the returned function takes it out again."""
        with self._lock:
            self._members.setdefault(call_id, []).append(member)

        def leave() -> None:
            with self._lock:
                members = self._members.get(call_id, [])
                if member in members:
                    members.remove(member)
                if not members:  # the call's last connection: nothing of it is kept
                    self._members.pop(call_id, None)
                    self._last.pop(call_id, None)

        return leave

    def finished(self, call_id: str, item_id: str) -> None:
        """An item of the call was finished (``conversation.item.done`` went out): the next one follows it."""
        with self._lock:
            if call_id in self._members:
                self._last[call_id] = item_id

    def add(
        self, call_id: str, creator: Member, item: dict[str, Any], *, before: Mapping[str, Any] | None = None
    ) -> None:
        """Announce ``item`` (created on ``creator``) to every connection of the call: ``before`` (e.g.
        ``input_audio_buffer.committed``, which answers the creator alone) then ``conversation.item.added`` and
        ``.done``. The creator's send errors propagate (its own answer); another connection closing under the
        announcement loses it, as on a dropped network."""
        with self._lock:
            previous = self._last.get(call_id)
            if call_id in self._members:  # kept only while the call has a connection (leave() forgets it)
                self._last[call_id] = str(item.get("id"))
            others = [m for m in self._members.get(call_id, []) if m is not creator]
        announced = [
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item},
            {"type": "conversation.item.done", "previous_item_id": previous, "item": item},
        ]
        if before is not None:
            creator.send({**before, "previous_item_id": previous})
        for event in announced:
            creator.send(event)
        for member in others:
            for event in announced:
                try:
                    member.send(event)
                except SocketClosed:
                    break


_BY_REGISTRY: weakref.WeakKeyDictionary[CallRegistry, Conversations] = weakref.WeakKeyDictionary()
_BY_REGISTRY_LOCK = threading.Lock()


def conversations_of(calls: CallRegistry) -> Conversations:
    """The conversations of the calls in ``calls`` (one emulator's): created on first use, gone with it."""
    with _BY_REGISTRY_LOCK:
        found = _BY_REGISTRY.get(calls)
        if found is None:
            found = _BY_REGISTRY[calls] = Conversations()
        return found
