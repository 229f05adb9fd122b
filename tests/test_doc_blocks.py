"""Every code block in the README and docs/ is executed, so a page cannot rot.

One rule per language, and a block no rule covers fails ``test_every_block_has_a_rule``:

- ``python``: a page's blocks run in order in one namespace (pytest-examples runs each; the names a block defines
  are there for the next, as when a reader pastes the page into one file), from the repository root, with
  ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` pointing at a loopback emulator. ``test_*`` functions a page
  defines are then called as pytest would: ``client`` is a test client of the page's Flask ``app``, any other
  parameter the pytest fixture of that name (the README's phone agent takes ``realtime_scripted_call``). A
  block importing a module
  the ``test`` extra does not bring (:data:`EXTRA_MODULES`: the Agents SDK, from ``dev``) skips the page's test
  from there when it is not installed.
- ``bash`` / ``console``: the page's ``realtime-service ...`` commands run as real subprocesses, in order, in a
  scratch folder that looks like the repository root (``config/``, ``examples/``, ``tests/``) and holds the
  page's YAML files; ``serve`` and ``emulator`` (not ``ring``) keep running until the page ends. The ports a
  page names are mapped to free loopback ports and ``whsec_...`` to a real secret; ``OPENAI_*`` point at a
  loopback emulator. A ``console`` block's output lines (``...`` matches anything) must appear in the
  command's output, in order. ``NOT_OFFLINE`` lists the commands that cannot run offline, each with the reason
  the page itself shows.
- ``yaml``: parses, and loads through the package's config loaders (``realtime:``, ``server:``, ``phone:``), or,
  when it is a list, through the emulator's script loader (a scripted conversation). A YAML block whose first
  line is ``# NAME.yaml`` is that file for the page's commands. One whose first line is ``# NAME`` of
  :data:`OTHER_PROGRAMS` (``# prometheus.yml``) is another program's file: the test named there runs that program
  on it (and must read it from this page).
- ``json``: parses. ``ini``: a ``setup.cfg`` section (such as ``[mutmut]``) that ``configparser`` reads, whose
  keys are the ones the project's own ``setup.cfg`` has in that section. ``text``: diagrams, trees, signatures
  and output; must not be runnable Python, nor show a ``$`` prompt (that would be a ``console`` block).
  ``js``: the browser side, run in Debian's headless Chromium (fake microphone) on a page of
  ``serve --emulator``, with the session endpoint at the path the block posts to.
"""

from __future__ import annotations

import base64
import configparser
import importlib.util
import inspect
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from dependency_injector import containers
from markdown_it import MarkdownIt
from pytest_examples import CodeExample, EvalExample, find_examples
from token_server.conftest import Served

from realtime_service.config import load_settings
from realtime_service.emulator import Emulator
from realtime_service.emulator.scripts import load_script
from realtime_service.web.settings import load_server_settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"python", "bash", "console", "yaml", "json", "ini", "text", "js"}
# A real Standard Webhooks secret for the pages' ``whsec_...`` placeholders.
SECRET = "whsec_" + base64.b64encode(b"doc-blocks-test-secret-00000001").decode()
PLACEHOLDER_SECRET = re.compile(r"whsec_[A-Za-z]*\.\.\.")
# Commands a page shows that cannot run offline, and the reason the page gives next to them (asserted).
NOT_OFFLINE: dict[str, str] = {}
SERVER_START_SECONDS = 60
COMMAND_SECONDS = 120
CONSOLE_SCRIPT = Path(sys.executable).parent / "realtime-service"  # the installed command, as a reader runs it
# YAML blocks that are another program's configuration (first line ``# NAME``), and the test that runs that program
# on the block as the page shows it.
OTHER_PROGRAMS = {"prometheus.yml": "tests/token_server/test_prometheus.py"}
# Modules a Python block may import that the `test` extra does not bring, and the skip's reason when one is
# missing: the page's test stops at that block (CI installs `dev` and its --only-system-skips refuses the skip).
EXTRA_MODULES = {"agents": "openai-agents is not installed (the dev extra brings it)"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    source: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} [{self.language}]"


def page_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page as a CommonMark parser sees them (indented ones inside list items too)."""
    tokens = MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
    return [
        Block(page, token.map[0] + 1 if token.map else 0, token.info.split()[0] if token.info else "", token.content)
        for token in tokens
        if token.type == "fence"
    ]


ALL_BLOCKS = [block for page in PAGES for block in page_blocks(page)]


def blocks_of(language: str, *more: str) -> list[Block]:
    return [block for block in ALL_BLOCKS if block.language in {language, *more}]


def pages_with(*languages: str) -> list[Path]:
    return sorted({block.page for block in ALL_BLOCKS if block.language in languages})


def page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def test_every_block_has_a_rule() -> None:
    assert len(ALL_BLOCKS) > 30
    uncovered = [str(block) for block in ALL_BLOCKS if block.language not in LANGUAGES]
    assert uncovered == [], "a code block with no language, or one no rule runs: add a rule to this file"


def test_no_block_escapes_the_inventory() -> None:
    """Every fence line in the text is one end of a listed block, and no code is written by indentation only."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        tokens = MarkdownIt("commonmark").parse(text)
        assert [token.map for token in tokens if token.type == "code_block"] == [], f"{page_id(page)}: use a fence"
        fence_lines = len(re.findall(r"^\s*```", text, re.MULTILINE))
        assert fence_lines == 2 * len(page_blocks(page)), f"{page_id(page)}: a fence the parser did not pair"


def test_pytest_examples_finds_the_same_python_blocks() -> None:
    """The runner's finder and this inventory must agree, or a block could be listed and never run."""
    for page in PAGES:
        found = [example.start_line for example in find_examples(page)]
        listed = [block.line for block in page_blocks(page) if block.language == "python"]
        assert found == listed, page_id(page)


# -- python ----------------------------------------------------------------------------------------------------


@pytest.fixture
def docs_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The environment a reader pastes into: their key and (here) a loopback emulator in OPENAI_BASE_URL."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "AZURE_OPENAI_", "REALTIME_SERVICE_")):
            monkeypatch.delenv(name)
    with Emulator() as emulator:
        monkeypatch.setenv("OPENAI_API_KEY", emulator.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", emulator.base_url)
        monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
        yield emulator


def missing_extra(source: str) -> str | None:
    """Why a block cannot run here (it imports a module of :data:`EXTRA_MODULES` that is not installed), or None."""
    for module, reason in EXTRA_MODULES.items():
        imported = re.search(rf"^\s*(?:from|import)\s+{module}\b", source, re.MULTILINE)
        if imported and importlib.util.find_spec(module) is None:
            return reason
    return None


def run_block(eval_example: EvalExample, example: CodeExample, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run one block; a failure names the block's page and lines (the runner's own traceback, rewritten to the
    Markdown's line numbers, cannot be formatted by pytest on Python 3.11)."""
    try:
        return eval_example.run(example, module_globals=namespace)
    except Exception as error:  # re-raised as the test's failure, naming the block
        line = example.start_line
        traceback_ = error.__traceback__
        while traceback_ is not None:
            if traceback_.tb_frame.f_code.co_filename.endswith(f"{example.module_name}.py"):
                line = traceback_.tb_lineno
            traceback_ = traceback_.tb_next
        raise AssertionError(f"{example} (near line {line}): {type(error).__name__}: {error}") from None


@pytest.mark.parametrize("page", pages_with("python"), ids=page_id)
def test_a_pages_python_blocks_run_in_order(
    page: Path,
    eval_example: EvalExample,
    docs_environment: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])  # the runner replaces it
    namespace: dict[str, Any] = {}
    modules_before = set(sys.modules)
    try:
        for example in find_examples(page):
            missing = missing_extra(example.source)
            if missing is not None:
                pytest.skip(f"{page_id(page)}:{example.start_line}: {missing}")
            namespace = run_block(eval_example, example, namespace)
        tests = {name: value for name, value in namespace.items() if name.startswith("test_") and callable(value)}
        for test in tests.values():
            parameters = inspect.signature(test).parameters
            test(**{name: fixture(name, namespace, request) for name in parameters})
    finally:
        for value in namespace.values():
            if isinstance(value, containers.Container):
                value.unwire()
                value.shutdown_resources()
        for name in set(sys.modules) - modules_before:  # the repository's examples a page imported, wired
            if name == "containers" or name.split(".")[0] == "examples":
                del sys.modules[name]


def fixture(name: str, namespace: dict[str, Any], request: pytest.FixtureRequest) -> Any:
    """What a page's ``test_*`` parameter gets: ``client``, a test client of the page's Flask ``app``; else the
    pytest fixture of that name."""
    if name == "client":
        return namespace["app"].test_client()
    return request.getfixturevalue(name)


# -- yaml, json, text, js ----------------------------------------------------------------------------------------


def with_real_secrets(text: str) -> str:
    return PLACEHOLDER_SECRET.sub(SECRET, text)


@pytest.mark.parametrize("block", blocks_of("yaml"), ids=str)
def test_a_yaml_block_loads_through_the_config_loaders(block: Block) -> None:
    loaded = yaml.safe_load(with_real_secrets(block.source))
    other = re.match(r"# (\S+)\n", block.source)
    if other and other[1] in OTHER_PROGRAMS:  # checked by the program it configures, in its own test
        assert isinstance(loaded, dict)
        assert loaded
        test = (ROOT / OTHER_PROGRAMS[other[1]]).read_text(encoding="utf-8")
        assert page_id(block.page) in test, f"{OTHER_PROGRAMS[other[1]]} does not read {page_id(block.page)}"
        return
    if isinstance(loaded, list):  # a scripted conversation (docs/emulator-calls.md)
        assert loaded, "an empty script shows nothing"
        assert load_script(loaded) == load_script(block.source)
        return
    assert isinstance(loaded, dict)
    assert loaded
    assert set(loaded) <= {"realtime", "server"}, "a config file has realtime: and server: keys"
    environ = {"OPENAI_API_KEY": "sk-docs-test-0000", "AZURE_OPENAI_API_KEY": "azure-docs-test-0000"}
    if "realtime" in loaded:
        load_settings(loaded["realtime"], environ)
    if "server" in loaded:
        load_server_settings(loaded["server"], environ)


@pytest.mark.parametrize("block", blocks_of("json"), ids=str)
def test_a_json_block_parses(block: Block) -> None:
    json.loads(block.source)


@pytest.mark.parametrize("block", blocks_of("ini"), ids=str)
def test_an_ini_block_is_a_setup_cfg_section_with_known_keys(block: Block) -> None:
    shown = configparser.ConfigParser()
    shown.read_string(block.source)
    ours = configparser.ConfigParser()
    ours.read(ROOT / "setup.cfg", encoding="utf-8")
    assert shown.sections(), "an ini block shows at least one section"
    for section in shown.sections():
        assert ours.has_section(section), f"setup.cfg has no [{section}]"
        unknown = set(shown[section]) - set(ours[section]) - {"pytest_add_cli_args_test_selection"}
        assert unknown == set(), f"[{section}] keys setup.cfg does not use: {sorted(unknown)}"


@pytest.mark.parametrize("block", blocks_of("text"), ids=str)
def test_a_text_block_is_not_code_that_could_run(block: Block) -> None:
    assert not re.search(r"^\$ ", block.source, re.MULTILINE), "commands with a $ prompt belong in a console block"
    assert not re.search(r"^realtime-service ", block.source, re.MULTILINE), "a command belongs in a bash block"
    try:
        compile(block.source, str(block), "exec")
    except SyntaxError:
        return
    raise AssertionError("this text block is valid Python: make it a python block, so it runs")


@pytest.mark.parametrize("block", blocks_of("js"), ids=str)
def test_a_js_block_runs_in_chromium_against_serve(block: Block, browser: Any, tmp_path: Path) -> None:
    """The browser side as a page would run it: Chromium's fake microphone, a real RTCPeerConnection, its offer
    posted (same origin) to ``serve --emulator`` at the path the block names, the answer applied."""
    paths = set(re.findall(r'fetch\("(/[^"?]*)', block.source))
    assert len(paths) == 1, "one endpoint per browser block"
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump({"server": {"session_path": paths.pop()}}), encoding="utf-8")
    served = Served(["--emulator", "--config", str(config)], tmp_path / "serve.log")
    try:
        browser.get(served.url + "/")
        browser.set_script_timeout(60)
        result = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];\n(async () => {\n"
            + block.source
            + "\nreturn {callId: callId, state: pc.signalingState};\n})().then(done, (e) => done({error: String(e)}));"
        )
    finally:
        served.stop()
    assert result.get("error") is None, f"{block}: {result['error']}\n{served.stderr[-2000:]}"
    assert result["callId"].startswith("rtc_")
    assert result["state"] == "stable"


# -- bash and console --------------------------------------------------------------------------------------------


@dataclass
class Command:
    """One ``realtime-service`` command of a page, and the output its console block shows after it."""

    block: Block
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Export:
    block: Block
    assignments: dict[str, str]


def logical_lines(source: str) -> list[str]:
    return source.replace("\\\n", " ").splitlines()


def page_steps(page: Path) -> list[Command | Export]:
    """The page's commands in order: ``realtime-service`` ones (in ``&&`` chains too) and ``export`` lines."""
    steps: list[Command | Export] = []
    for block in page_blocks(page):
        if block.language not in {"bash", "console"}:
            continue
        current: Command | None = None
        for line in logical_lines(block.source):
            if block.language == "console":
                if not line.startswith("$ "):
                    if current is not None and line.strip():
                        current.expected.append(line.rstrip())
                    continue
                line = line[2:]
            current = None
            words = shlex.split(line, comments=True)
            for part in " ".join(shlex.quote(word) for word in words).split(" '&&' "):
                argv = shlex.split(part)
                if argv[:1] == ["export"]:
                    steps.append(Export(block, dict(word.split("=", 1) for word in argv[1:])))
                elif "realtime-service" in argv:
                    current = Command(block, part)
                    steps.append(current)
    return steps


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def is_server(argv: list[str]) -> bool:
    return argv[0] == "serve" or (argv[0] == "emulator" and argv[1:2] != ["ring"])


def output_matches(expected: list[str], output: str) -> bool:
    """Each expected line matches a later line of ``output``; ``...`` stands for anything."""
    lines = iter(output.splitlines())
    for want in expected:
        pattern = re.compile(".*?".join(re.escape(piece) for piece in want.strip().split("...")) + "$")
        if not any(pattern.fullmatch(line.strip()) for line in lines):
            return False
    return True


class Server:
    """A long-running command: started, waited for (its first line on stdout), stopped at the page's end."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.argv = argv
        self.log = log
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            for line in self.process.stdout or ():
                lines.put(line)
            lines.put(None)  # it closed its output: it will not start

        threading.Thread(target=read, daemon=True).start()
        try:
            first = lines.get(timeout=SERVER_START_SECONDS)
        except queue.Empty:
            first = None
        if first is None:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{shlex.join(argv)} did not start: {log.read_text()[-2000:]}")
        self.first_line = first

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def test_the_not_offline_list_is_small_and_each_reason_is_on_its_page() -> None:
    assert len(NOT_OFFLINE) <= 3
    shown = {
        command.text: command
        for page in pages_with("bash", "console")
        for command in page_steps(page)
        if isinstance(command, Command)
    }
    for text, reason in NOT_OFFLINE.items():
        assert text in shown, f"not on any page any more: {text}"
        assert reason in shown[text].block.source, f"the page does not say why {text} cannot run offline"


def pages_with_commands() -> list[Path]:
    return [
        page
        for page in pages_with("bash", "console")
        if any(isinstance(step, Command) and step.text not in NOT_OFFLINE for step in page_steps(page))
    ]


def test_the_command_rule_finds_the_pages_commands() -> None:
    """The parser must see the commands a reader sees (in && chains, after a $ prompt, continued lines)."""
    pages = {page_id(page) for page in pages_with_commands()}
    assert {"README.md", "docs/getting-started.md", "docs/phone-calls.md", "docs/emulator-calls.md"} <= pages
    texts = [step.text for step in page_steps(ROOT / "docs" / "emulator-calls.md") if isinstance(step, Command)]
    assert any(text.startswith("realtime-service emulator ring") and "--api-key" in text for text in texts), texts


@pytest.mark.parametrize("page", pages_with_commands(), ids=page_id)
def test_a_pages_commands_run_against_the_emulator(page: Path, tmp_path: Path) -> None:
    steps = page_steps(page)
    commands = [step for step in steps if isinstance(step, Command) and step.text not in NOT_OFFLINE]
    yaml_blocks = [block for block in page_blocks(page) if block.language == "yaml"]
    shown = "\n".join([*(step.text for step in commands), *(block.source for block in yaml_blocks)])
    ports = {port: free_port() for port in set(re.findall(r"(?:127\.0\.0\.1:|--port )(\d+)", shown)) | {"8000"}}

    def localise(text: str) -> str:
        text = with_real_secrets(text)
        text = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{ports[m[1]]}", text)
        return re.sub(r"--port (\d+)", lambda m: f"--port {ports[m[1]]}", text)

    for name in ("config", "examples", "tests", "containers.py"):  # the pages' commands run "from the repository root"
        (tmp_path / name).symlink_to(ROOT / name)
    for block in yaml_blocks:
        name = re.match(r"# (\S+\.yaml)\b", block.source)
        if name:
            (tmp_path / name[1]).write_text(localise(block.source), encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "REALTIME_SERVICE_"))}
    servers: list[Server] = []
    with Emulator() as emulator:
        env = {**base, "OPENAI_API_KEY": emulator.api_key, "OPENAI_BASE_URL": emulator.base_url}
        try:
            for step in steps:
                if isinstance(step, Export):
                    env.update({name: localise(value) for name, value in step.assignments.items()})
                    continue
                if step.text in NOT_OFFLINE:
                    continue
                words = shlex.split(localise(step.text))
                if words[-1] == "&":
                    words.pop()  # servers are run in the background anyway
                at = words.index("realtime-service")
                command_env = {**env, **dict(word.split("=", 1) for word in words[:at])}
                argv = words[at + 1 :]
                if argv[0] == "serve" and "--port" not in argv:
                    argv += ["--port", str(ports["8000"])]  # serve's default port, as the page names it
                full = [str(CONSOLE_SCRIPT), *argv]
                if is_server(argv):
                    servers.append(Server(full, command_env, tmp_path, tmp_path / f"server-{len(servers)}.log"))
                    continue
                result = subprocess.run(
                    full,
                    cwd=tmp_path,
                    env=command_env,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=COMMAND_SECONDS,
                )
                where = f"{step.block}: realtime-service {shlex.join(argv)}"
                assert result.returncode == 0, f"{where} exited {result.returncode}: {result.stderr[-2000:]}"
                expected = [localise(line) for line in step.expected]
                assert output_matches(expected, result.stdout + result.stderr), (
                    f"{where} printed\n{result.stdout}{result.stderr}\nnot the page's\n" + "\n".join(expected)
                )
            for server in servers:
                assert server.process.poll() is None, f"{shlex.join(server.argv)} died: {server.log.read_text()}"
        finally:
            for server in servers:
                server.stop()
