"""Importing the package imports no web framework (issue 15, cold start), and wiring still knows the frameworks.

dependency-injector's wiring module imports FastAPI, Starlette and Werkzeug at import when they are installed;
``realtime_service.lazy_wiring`` makes those probes lazy. Each check runs in a new interpreter, where the import
order is the one a user's process has (the test process imported everything long ago).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

FRAMEWORKS = ("fastapi", "starlette", "flask", "werkzeug", "uvicorn", "waitress")


def run(script: str) -> object:
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_frameworks_are_installed_here_so_the_checks_below_can_fail() -> None:
    assert [name for name in FRAMEWORKS if importlib.util.find_spec(name) is None] == []


def test_importing_the_package_and_building_the_service_and_endpoint_import_no_framework() -> None:
    script = (
        "import json, sys\n"
        "from realtime_service import RealtimeContainer\n"
        "c = RealtimeContainer(environ={}); c.config.from_dict({'api_key': 'sk-test-000000000000'})\n"
        "c.realtime_session_service()\n"
        "from realtime_service.web.servers.containers import ServeContainer\n"
        "s = ServeContainer(environ={}); s.config.from_dict({'realtime': {'api_key': 'sk-test-000000000000'}})\n"
        "s.token_server.token_endpoint()\n"
        "import dependency_injector.wiring\n"
        f"print(json.dumps(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)))\n"
    )
    assert run(script) == []


def test_wiring_still_recognises_the_frameworks_objects_once_they_are_imported() -> None:
    script = (
        "import json\n"
        "import realtime_service\n"
        "from inspect import Parameter\n"
        "from dependency_injector import wiring\n"
        "from dependency_injector.wiring import Provide\n"
        "from fastapi import Depends\n"
        "from starlette.requests import Request\n"
        "from werkzeug.local import LocalProxy\n"
        "marker = Provide['token_server.token_endpoint']\n"
        "param = Parameter('endpoint', Parameter.KEYWORD_ONLY, default=Depends(marker))\n"
        "class MyRequest(Request): pass\n"
        "print(json.dumps([wiring._extract_marker(param) is marker,\n"
        "                  wiring.is_excluded_from_inspect(MyRequest),\n"
        "                  wiring.is_excluded_from_inspect(LocalProxy(lambda: 1)),\n"
        "                  wiring.is_excluded_from_inspect(object())]))\n"
    )
    assert run(script) == [True, True, True, False]


def test_nothing_changes_when_a_framework_was_imported_before_the_package() -> None:
    script = (
        "import json, fastapi\n"
        "import realtime_service.lazy_wiring as lazy\n"
        "from dependency_injector import wiring\n"
        "print(json.dumps([lazy.import_wiring_lazily(), lazy.fastapi_marker in wiring.MARKER_EXTRACTORS,\n"
        "                  len(wiring.MARKER_EXTRACTORS) >= 1]))\n"
    )
    assert run(script) == [False, False, True]


def test_other_threads_import_the_hidden_packages_as_usual() -> None:
    script = (
        "import json, sys, threading\n"
        "import realtime_service.lazy_wiring as lazy\n"
        "finder = lazy._HideFromThisThread()\n"
        "seen = {}\n"
        "def probe(key):\n"
        "    try:\n"
        "        seen[key] = finder.find_spec('fastapi.params') is None\n"
        "    except ModuleNotFoundError:\n"
        "        seen[key] = 'hidden'\n"
        "probe('same thread')\n"
        "t = threading.Thread(target=probe, args=('other thread',)); t.start(); t.join()\n"
        "seen['unrelated'] = finder.find_spec('json') is None\n"
        "print(json.dumps(seen, sort_keys=True))\n"
    )
    assert run(script) == {"other thread": True, "same thread": "hidden", "unrelated": True}


PROVIDERS_STATE = (
    "import dependency_injector.providers as p\n"
    "state = [p.has_pydantic_settings, 'pydantic' in sys.modules]\n"
    "try:\n"
    "    p.Configuration().from_pydantic(object())\n"
    "except Exception as exc:\n"
    "    state.append(str(exc))\n"
)


def test_pydantic_2_is_installed_here_so_the_check_below_can_fail() -> None:
    from importlib.metadata import version

    assert importlib.util.find_spec("pydantic_settings") is None
    assert version("pydantic").startswith("2.")


def test_the_package_does_not_import_pydantic_and_providers_reads_it_as_before() -> None:
    plain = run("import json, sys\n" + PROVIDERS_STATE + "print(json.dumps(state))\n")
    ours = run(
        "import json, sys\n"
        "from realtime_service import RealtimeContainer\n"
        "c = RealtimeContainer(environ={}); c.config.from_dict({'api_key': 'sk-test-000000000000'})\n"
        "c.realtime_session_service()\n"
        "loaded = 'pydantic' in sys.modules\n" + PROVIDERS_STATE + "print(json.dumps([loaded, state]))\n"
    )
    assert plain == [False, True, plain[2]]  # type: ignore[index]  # providers imports pydantic 2 for nothing
    assert ours == [False, [False, False, plain[2]]]  # type: ignore[index]  # the same answer, no pydantic


def test_pydantic_is_not_hidden_when_its_probe_would_use_it() -> None:
    script = (
        "import json, sys\n"
        "import pydantic\n"
        "import realtime_service.lazy_wiring as lazy\n"
        "print(json.dumps(lazy.pydantic_probe_is_idle()))\n"
    )
    assert run(script) is False
