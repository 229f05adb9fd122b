"""Import dependency-injector's wiring without the web frameworks it probes for (imported first by the package).

``dependency_injector.containers`` imports ``dependency_injector.wiring`` (for ``wire``/``unwire``), and that
module imports ``fastapi.params``, ``fast_depends``, ``starlette.requests`` and ``werkzeug.local`` whenever they
are installed, only to recognise their objects while wiring (a FastAPI ``Depends`` holding a marker; a Starlette
``Request`` class or a Werkzeug ``LocalProxy`` to skip). That is FastAPI, Starlette, pydantic and Werkzeug,
0.2-0.3 s, in every process that imports this package, even one that serves nothing (issue 15, cold start).

An object of one of those types can only exist once its module has been imported, so asking ``sys.modules`` at
wiring time answers exactly as the eager imports did. This module imports wiring with those packages hidden
from the importing thread only (other threads import as usual), then puts lazy checks in the lists the eager
ones would have joined. When the frameworks are loaded already, or wiring was imported before this package, or
a dependency-injector version lacks those lists, it changes nothing. During the same import it also hides
pydantic when ``providers``' probe for it is idle (see :func:`pydantic_probe_is_idle`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import threading
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

WIRING = "dependency_injector.wiring"
#: The top-level packages wiring probes for at import.
PROBED = ("fastapi", "fast_depends", "starlette", "werkzeug")


def pydantic_probe_is_idle() -> bool:
    """Whether hiding pydantic from ``dependency_injector.providers``' import changes nothing about it.

    ``providers.pyx`` tries ``pydantic_settings``, then falls back to ``import pydantic`` and uses it only when
    its version starts with ``1.`` (``Configuration.from_pydantic`` on pydantic v1). With pydantic 2 and no
    ``pydantic_settings`` the import is dead weight (about 25-35 ms: ``openai`` brings pydantic along), and the
    module's state is the same without it. The version comes from the installed distribution's metadata.
    """
    if "pydantic" in sys.modules or importlib.util.find_spec("pydantic") is None:
        return False
    if importlib.util.find_spec("pydantic_settings") is not None:
        return False
    from importlib.metadata import PackageNotFoundError, version

    try:
        return not version("pydantic").startswith("1.")
    except PackageNotFoundError:
        return False


class _HideFromThisThread:
    """A meta-path finder that makes ``hidden`` (default :data:`PROBED`) look absent, to one thread."""

    def __init__(self, hidden: Sequence[str] = PROBED) -> None:
        self.thread = threading.get_ident()
        self.hidden = frozenset(hidden)

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if threading.get_ident() == self.thread and name.partition(".")[0] in self.hidden:
            raise ModuleNotFoundError(f"{name} hidden while importing {WIRING}", name=name)
        return None


def _attribute(module: str, name: str) -> Any:
    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded is not None else None


def fastapi_marker(param: Any) -> Any:
    depends = _attribute("fastapi.params", "Depends")
    return param.dependency if depends is not None and isinstance(param, depends) else None


def fast_depends_dependant_marker(param: Any) -> Any:  # fast_depends >= 3
    dependant = _attribute("fast_depends.dependencies.model", "Dependant")
    return param.dependency if dependant is not None and isinstance(param, dependant) else None


def fast_depends_marker(param: Any) -> Any:  # fast_depends < 3
    depends = _attribute("fast_depends.dependencies", "Depends")
    return param.dependency if depends is not None and isinstance(param, depends) else None


def is_starlette_request_class(obj: Any) -> bool:
    request = _attribute("starlette.requests", "Request")
    if request is None or not inspect.isclass(obj):
        return False
    try:
        return issubclass(obj, request)
    except TypeError:  # what wiring's own _safe_is_subclass guards against
        return False


def is_werkzeug_local_proxy(obj: Any) -> bool:
    proxy = _attribute("werkzeug.local", "LocalProxy")
    return proxy is not None and isinstance(obj, proxy)


def import_wiring_lazily() -> bool:
    """Import wiring with the framework probes made lazy; True when it did (False: nothing to save or to do)."""
    if WIRING in sys.modules or any(name in sys.modules for name in PROBED):
        return False
    hidden = (*PROBED, "pydantic") if pydantic_probe_is_idle() else PROBED
    finder = _HideFromThisThread(hidden)
    sys.meta_path.insert(0, finder)
    try:
        wiring = importlib.import_module(WIRING)
    finally:
        sys.meta_path.remove(finder)
    markers = getattr(wiring, "MARKER_EXTRACTORS", None)
    filters = getattr(wiring, "INSPECT_EXCLUSION_FILTERS", None)
    if not isinstance(markers, list) or not isinstance(filters, list):  # another layout: the eager probes again
        importlib.reload(wiring)
        return False
    markers.extend((fastapi_marker, fast_depends_dependant_marker, fast_depends_marker))
    filters.extend((is_starlette_request_class, is_werkzeug_local_proxy))
    return True


import_wiring_lazily()
