"""Finished spans (the OpenTelemetry SDK's ``ReadableSpan``, e.g. from its ``InMemorySpanExporter``) as an
indented text tree, one line per span: its name, kind, duration and attributes, children under their parent in
start order, a span whose parent was not captured as a root, and each link named by the span it points to.

A host's test reads one request's spans at a glance, or asserts a whole trace's shape in one comparison
(``durations=False`` and the ``attributes`` it cares about make the text the same on every run)::

    assert render_tree(exporter.get_finished_spans(), attributes=["http.route"], durations=False) == (
        "POST /session [SERVER] http.route=/session\\n"
        "└─ POST /realtime/calls [CLIENT]"
    )

Nothing here imports OpenTelemetry: the spans are read by their attributes only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

#: What a child's line starts with, under a parent that has more children after it, and under its last one.
_BRANCH, _LAST = "├─ ", "└─ "
#: What the lines under a child start with, below a parent with more children after it, and below its last one.
_PIPE, _SPACE = "│  ", "   "


def render_tree(spans: Iterable[Any], *, attributes: Collection[str] | None = None, durations: bool = True) -> str:
    """The spans as a tree: ``name [KIND] 12 ms key=value ... <- linked span``. ``attributes``: the keys shown
    (in the span's order; ``None``: every one); ``durations``: whether each line shows its duration, rounded
    to the millisecond (``False`` for text that stays the same from run to run)."""
    spans = sorted(spans, key=lambda span: (span.start_time or 0, span.name))
    ids = {span.context.span_id: span for span in spans}
    children: dict[int, list[Any]] = {}
    roots = []
    for span in spans:
        parent: int | None = span.parent.span_id if span.parent is not None else None
        if parent is not None and parent in ids:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    lines: list[str] = []

    def add(span: Any, lead: str, below: str) -> None:
        lines.append(lead + _line(span, ids, attributes, durations))
        kids = children.get(span.context.span_id, [])
        for index, child in enumerate(kids):
            last = index == len(kids) - 1
            add(child, below + (_LAST if last else _BRANCH), below + (_SPACE if last else _PIPE))

    for root in roots:
        add(root, "", "")
    return "\n".join(lines)


def _line(span: Any, ids: dict[int, Any], keys: Collection[str] | None, durations: bool) -> str:
    parts = [f"{span.name} [{span.kind.name}]"]
    if durations and span.start_time is not None and span.end_time is not None:
        parts.append(f"{round((span.end_time - span.start_time) / 1e6)} ms")
    shown = dict(span.attributes or {})
    parts += [f"{key}={value}" for key, value in shown.items() if keys is None or key in keys]
    for link in span.links or ():
        target = ids.get(link.context.span_id)
        parts.append(f"<- {target.name if target is not None else f'{link.context.span_id:016x}'}")
    return " ".join(parts)


__all__ = ["render_tree"]
