"""``realtime-service doctor``: one line and one verdict per check, against the emulator and a real redis-server."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from realtime_service.doctor import FAIL, OK, WARN, Check, Deployment, doctor_main, model_check, run_checks
from realtime_service.emulator import Emulator

from .conftest import free_port

WEBHOOK_SECRET = "whsec_c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk"


def write_config(tmp_path: Path, tree: dict[str, Any]) -> str:
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return str(path)


def doctor(
    capsys: pytest.CaptureFixture[str], *argv: str, environ: dict[str, str] | None = None
) -> tuple[int, dict[str, list[tuple[str, str]]], str]:
    """Run the command in-process; returns the exit code, name -> [(verdict, detail)] and the whole output."""
    code = doctor_main(list(argv), environ=environ or {})
    out = capsys.readouterr().out
    lines: dict[str, list[tuple[str, str]]] = {}
    for line in out.splitlines()[:-1]:
        verdict, rest = line.split(None, 1)
        for name in (
            "realtime config",
            "server config",
            "models",
            "api key",
            "webhook secret",
            "phone config",
            "rate-limit storage",
            "allowed hosts",
            "metrics",
            "tracing",
        ):
            if rest.startswith(name):
                lines.setdefault(name, []).append((verdict, rest[len(name) :].strip()))
                break
        else:
            raise AssertionError(f"unexpected line: {line!r}")
    return code, lines, out


def emulator_env(emulator: Emulator, key: str | None = None) -> dict[str, str]:
    return {"OPENAI_API_KEY": key or emulator.api_key, "OPENAI_BASE_URL": emulator.base_url}


def verdicts(lines: dict[str, list[tuple[str, str]]], name: str) -> list[str]:
    return [verdict for verdict, _ in lines[name]]


def test_a_default_deployment_with_a_working_key_passes_and_mints_one_short_key(
    capsys: pytest.CaptureFixture[str], emulator: Emulator
) -> None:
    code, lines, out = doctor(capsys, "--check-key", environ=emulator_env(emulator))
    assert code == 0, out
    assert verdicts(lines, "realtime config") == [OK]
    assert lines["models"] == [(OK, "server.session.model: gpt-realtime-2.1 (no shutdown announced)")]
    ((verdict, detail),) = lines["api key"]
    assert verdict == OK
    assert "accepted" in detail
    assert "request_id=req_" in detail
    assert verdicts(lines, "rate-limit storage") == [OK]
    assert "memory://" in lines["rate-limit storage"][0][1]
    assert verdicts(lines, "allowed hosts") == [WARN]
    (sent,) = emulator.requests
    assert sent.path == "/v1/realtime/client_secrets"
    assert sent.json == {
        "session": {"type": "realtime", "model": "gpt-realtime-2.1"},
        "expires_after": {"anchor": "created_at", "seconds": 10},
    }
    assert emulator.api_key not in out
    assert out.splitlines()[-1] == f"{len(out.splitlines()) - 1} checks: 0 failed, 1 warning"


def test_without_check_key_nothing_is_sent(capsys: pytest.CaptureFixture[str], emulator: Emulator) -> None:
    code, lines, _ = doctor(capsys, environ=emulator_env(emulator))
    assert code == 0
    assert lines["api key"] == [(OK, "set (from the environment); not sent to the API (--check-key does)")]
    assert emulator.requests == []


def test_a_refused_key_fails_without_being_printed(capsys: pytest.CaptureFixture[str], emulator: Emulator) -> None:
    wrong = "sk-wrong-key-that-must-not-appear-0123456789"
    code, lines, out = doctor(capsys, "--check-key", environ=emulator_env(emulator, key=wrong))
    assert code == 1
    ((verdict, detail),) = lines["api key"]
    assert verdict == FAIL
    assert "refused it: 401" in detail
    assert wrong not in out
    assert wrong[-8:] not in out


def test_a_missing_key_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = doctor(capsys, "--check-key")
    assert code == 1
    ((verdict, detail),) = lines["api key"]
    assert verdict == FAIL
    assert "OPENAI_API_KEY" in detail


def test_no_answer_from_the_api_fails(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {"OPENAI_API_KEY": "sk-" + "x" * 40, "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    code, lines, _ = doctor(capsys, "--check-key", environ=environ)
    assert code == 1
    assert lines["api key"][0][0] == FAIL
    assert "no answer from the API" in lines["api key"][0][1]


def test_a_model_with_an_announced_shutdown_warns_with_its_date_and_replacement(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator
) -> None:
    config = write_config(tmp_path, {"server": {"session": {"model": "gpt-realtime"}, "browser_fields": ["model"]}})
    code, lines, _ = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert code == 0
    (first, second) = lines["models"]
    assert first[0] == WARN
    assert "gpt-realtime shuts down on 2027-01-20" in first[1]
    assert "use gpt-realtime-2.1" in first[1]
    assert second[0] == WARN
    assert "browser_fields includes model" in second[1]


def test_a_model_past_its_date_fails() -> None:
    check = model_check("server.session.model", "gpt-realtime", dt.date(2027, 1, 20))
    assert check == Check(
        "models", FAIL, "server.session.model: gpt-realtime was shut down on 2027-01-20; use gpt-realtime-2.1"
    )
    assert model_check("x", "gpt-realtime", dt.date(2027, 1, 19)).verdict == WARN
    assert model_check("x", "gpt-realtime-2.1", dt.date(2099, 1, 1)).verdict == OK


@pytest.mark.parametrize(
    ("model", "closest"),
    [
        ("gpt-realtim-2.1", "gpt-realtime-2.1"),
        ("gpt-live1", "gpt-live-1"),
        ("gpt-realtime-2.1-mni", "gpt-realtime-2.1-mini"),
    ],
)
def test_a_model_the_package_does_not_know_warns_with_the_closest_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator, model: str, closest: str
) -> None:
    """A typo used to read "ok": now it warns (never fails: new models appear before the package knows them)."""
    config = write_config(tmp_path, {"server": {"session": {"model": model}}})
    code, lines, _ = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert code == 0
    assert lines["models"] == [
        (WARN, f"server.session.model: {model} is not a model this package knows; did you mean {closest}?")
    ]


def test_the_summary_counts_in_words_with_the_right_plurals() -> None:
    from realtime_service.doctor import plural

    assert [plural(n, "warning") for n in (0, 1, 2)] == ["0 warnings", "1 warning", "2 warnings"]
    assert plural(1, "check") == "1 check"


def test_an_unknown_model_with_nothing_close_warns_without_a_guess() -> None:
    check = model_check("server.session.model", "my-own-finetune", dt.date(2026, 12, 6))
    assert check == Check("models", WARN, "server.session.model: my-own-finetune is not a model this package knows")


def test_every_model_the_package_names_as_current_is_known_and_has_no_shutdown() -> None:
    from realtime_service.lifecycle import BY_MODEL, CURRENT, describe

    for model in CURRENT:
        assert model not in BY_MODEL
        assert model_check("x", model, dt.date(2026, 12, 6)).verdict == OK
    for row in BY_MODEL.values():
        assert row.source not in describe(row)  # sources are in docs/model-lifecycle.md, not in every line
        assert "source" not in describe(row)


def test_a_config_that_does_not_load_fails_with_its_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator
) -> None:
    config = write_config(tmp_path, {"realtime": {"retry": {"max_retries": -1}}, "server": {"auth": "magic"}})
    code, lines, _ = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert code == 1
    assert verdicts(lines, "realtime config") == [FAIL]
    assert "retry.max_retries" in lines["realtime config"][0][1]
    assert verdicts(lines, "server config") == [FAIL]
    assert "server.auth" in lines["server config"][0][1]
    assert verdicts(lines, "models") == [FAIL]


def test_a_file_of_realtime_keys_is_read_as_the_realtime_tree(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator
) -> None:
    config = write_config(tmp_path, {"api_key": emulator.api_key, "base_url": emulator.base_url})
    code, lines, out = doctor(capsys, "--config", config, "--check-key")
    assert code == 0, out
    assert "from config key api_key" in lines["api key"][0][1]
    assert emulator.api_key not in out


def test_an_unreadable_config_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert doctor_main(["--config", str(tmp_path / "missing.yaml")], environ={}) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert doctor_main(["--config", write_config(tmp_path, {"realtime": {}, "extra": 1})], environ={}) == 2


# -- rate-limit storage on a real redis-server -----------------------------------------------------------------


def test_a_reachable_redis_passes_and_its_password_is_never_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, redis_server: str, emulator: Emulator
) -> None:
    with_password = redis_server.replace("redis://", "redis://doctor:s3cret-password-value@")
    config = write_config(tmp_path, {"server": {"rate_limit_storage": with_password}})
    code, lines, out = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    # redis-server here has no ACL user "doctor": an AUTH failure is an answer that says no
    assert "s3cret-password-value" not in out
    assert "doctor:" not in out
    config = write_config(tmp_path, {"server": {"rate_limit_storage": redis_server}})
    code, lines, out = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert code == 0, out
    assert lines["rate-limit storage"] == [(OK, f"{redis_server} answers")]


def test_an_unreachable_redis_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    config = write_config(tmp_path, {"server": {"rate_limit_storage": dead}})
    code, lines, _ = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert code == 1
    assert lines["rate-limit storage"] == [(FAIL, f"{dead} does not answer: every mint would be refused")]


def test_rate_limiting_off_warns(capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator) -> None:
    config = write_config(tmp_path, {"server": {"rate_limit": "off"}})
    _, lines, _ = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert verdicts(lines, "rate-limit storage") == [WARN]


# -- webhooks and hosts (keys other work adds: the checks read them as written) --------------------------------


def lines_named(deployment: Deployment, name: str) -> list[Check]:
    return [line for line in run_checks(deployment) if line.name == name]


@pytest.mark.parametrize("route", [{"webhook_path": "/webhooks/openai"}, {"phone": {"path": "/calls"}}])
def test_a_served_webhook_path_needs_its_secret(route: dict[str, Any]) -> None:
    (line,) = lines_named(Deployment({}, dict(route), {}), "webhook secret")
    assert line.verdict == FAIL
    assert "OPENAI_WEBHOOK_SECRET" in line.detail
    (line,) = lines_named(Deployment({}, dict(route), {"OPENAI_WEBHOOK_SECRET": WEBHOOK_SECRET}), "webhook secret")
    assert line.verdict == OK
    (line,) = lines_named(Deployment({}, {**route, "webhook_secret": "plain"}, {}), "webhook secret")
    assert line.verdict == WARN


def test_no_webhook_path_needs_no_secret() -> None:
    for server in ({}, {"phone": {"enabled": False}}, {"webhook_path": None}):
        (line,) = lines_named(Deployment({}, server, {}), "webhook secret")
        assert line.verdict == OK


def test_the_webhook_secret_is_never_printed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = write_config(tmp_path, {"server": {"webhook_path": "/hooks", "webhook_secret": WEBHOOK_SECRET}})
    doctor_main(["--config", config], environ={"OPENAI_WEBHOOK_SECRET": WEBHOOK_SECRET})
    out = capsys.readouterr().out
    assert "webhook secret" in out
    assert WEBHOOK_SECRET not in out
    assert WEBHOOK_SECRET[-8:] not in out


@pytest.mark.parametrize(
    ("hosts", "verdict"),
    [
        (["tokens.example.com", "localhost:8000", "*.example.org"], OK),
        (["*"], WARN),
        ([], FAIL),
        (["https://tokens.example.com"], FAIL),
        (["tokens.example.com/path"], FAIL),
        (["two words"], FAIL),
        ([5], FAIL),
        (["host:port"], FAIL),
    ],
)
def test_the_host_allow_list_is_checked_when_set(hosts: list[Any], verdict: str) -> None:
    (line,) = lines_named(Deployment({}, {"allowed_hosts": hosts}, {}), "allowed hosts")
    assert line.verdict == verdict, line


def test_a_check_that_raises_is_reported_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    from realtime_service import doctor as module

    def broken(deployment: Deployment) -> list[Check]:
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "CHECKS", (broken,))
    assert run_checks(Deployment({}, {}, {})) == [Check("broken", FAIL, "the check itself failed: RuntimeError: boom")]


def test_the_command_runs_as_a_real_process(emulator: Emulator) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    result = subprocess.run(
        [sys.executable, "-m", "realtime_service", "doctor", "--check-key"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **emulator_env(emulator)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok    realtime config")
    assert emulator.api_key not in result.stdout + result.stderr


def test_a_phone_route_is_checked_with_the_phone_settings_loader(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator
) -> None:
    config = write_config(tmp_path, {"server": {"phone": {"webhook_secret": WEBHOOK_SECRET}}})
    _, lines, out = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert lines["webhook secret"] == [(OK, "set for server.phone (1 secret(s))")]
    assert lines["phone config"] == [(OK, "loads (webhooks at /webhooks/openai)")]
    assert WEBHOOK_SECRET not in out
    config = write_config(tmp_path, {"server": {"phone": {"webhook_secret": "whsec_not base64!", "bogus": 1}}})
    code, lines, out = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert code == 1
    assert verdicts(lines, "phone config") == [FAIL]
    assert "server.phone" in lines["phone config"][0][1]


def test_the_server_config_line_names_the_log_format_and_level(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator
) -> None:
    config = write_config(tmp_path, {"server": {"log_format": "json", "log_level": "debug"}})
    _, lines, _ = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert lines["server config"] == [(OK, "loads (logs: json at DEBUG)")]
    config = write_config(tmp_path, {"server": {"log_format": "logfmt"}})
    _, lines, _ = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert verdicts(lines, "server config") == [FAIL]
    assert "'server.log_format'" in lines["server config"][0][1]


@pytest.mark.parametrize(
    ("metrics", "verdict", "where"),
    [
        (None, OK, None),
        ({"port": 9464}, OK, "http://127.0.0.1:9464/metrics"),
        ({"address": "10.1.2.3", "port": 9464}, OK, "http://10.1.2.3:9464/metrics"),
        ({"address": "::1", "port": 9464}, OK, "http://[::1]:9464/metrics"),
        ({"address": "metrics.internal", "port": 9464}, OK, "http://metrics.internal:9464/metrics"),
        ({"address": "0.0.0.0", "port": 9464}, WARN, "http://0.0.0.0:9464/metrics"),  # noqa: S104 - the case
        ({"address": "100.64.0.1", "port": 9464}, WARN, "http://100.64.0.1:9464/metrics"),  # only read, never bound
    ],
)
def test_the_metrics_line_says_whether_and_where_serve_answers_scrapes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator, metrics: Any, verdict: str, where: Any
) -> None:
    pytest.importorskip("prometheus_client")
    config = write_config(tmp_path, {"server": {"metrics": metrics}} if metrics else {})
    code, lines, out = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert code == 0, out
    ((shown, detail),) = lines["metrics"]
    assert shown == verdict, detail
    if where is None:
        assert detail == "off (server.metrics not set)"
    else:
        assert detail.startswith(f"on at {where} (prometheus-client ")
        assert ("no authentication" in detail) == (verdict == WARN)


def test_a_metrics_setting_that_does_not_load_fails_the_metrics_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator
) -> None:
    config = write_config(tmp_path, {"server": {"metrics": {"port": 0}}})
    code, lines, _ = doctor(capsys, "--config", config, environ=emulator_env(emulator))
    assert code == 1
    assert lines["metrics"] == [(FAIL, "not checked: the server config does not load")]


#: Runs the CLI with the extras named in argv[1] (comma-separated) hidden from imports, as a core install.
HIDDEN_EXTRAS = """
import importlib.abc, sys
hidden = set(filter(None, sys.argv[1].split(",")))
class HideExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in hidden:
            raise ModuleNotFoundError(f"{name} hidden", name=name)
        return None
sys.meta_path.insert(0, HideExtras())
from realtime_service.cli import main
sys.exit(main(sys.argv[2:]))
"""


def doctor_process(emulator: Emulator, *argv: str, hidden: str = "", **env: str) -> tuple[int, dict[str, str]]:
    """``realtime-service doctor`` in a fresh interpreter (its own tracer provider, or none); name -> line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, "-c", HIDDEN_EXTRAS, hidden, "doctor", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **emulator_env(emulator), **env},
    )
    assert not result.stderr, result.stderr
    lines = {line[6:26].strip(): line for line in result.stdout.splitlines()[:-1]}
    return result.returncode, lines


def test_the_tracing_line_says_whether_serve_makes_spans_and_where_they_go(emulator: Emulator) -> None:
    pytest.importorskip("opentelemetry.sdk")
    code, lines = doctor_process(emulator)
    assert code == 0
    assert lines["tracing"].startswith("ok    tracing ")
    assert "available (opentelemetry-api 1." in lines["tracing"]
    assert "opentelemetry-sdk 1." in lines["tracing"]
    assert "no tracer provider is configured: serve's spans go nowhere" in lines["tracing"]
    # the SDK's provider named in the environment, as serve would inherit it: spans go there
    code, lines = doctor_process(emulator, OTEL_PYTHON_TRACER_PROVIDER="sdk_tracer_provider")
    assert code == 0
    assert "on: opentelemetry-api 1." in lines["tracing"]
    assert "spans go to opentelemetry.sdk.trace.TracerProvider" in lines["tracing"]


def test_without_the_extras_tracing_is_off_and_metrics_set_fails(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"server": {"metrics": {"port": 9464}}})
    code, lines = doctor_process(emulator, "--config", config, hidden="opentelemetry,prometheus_client")
    assert code == 1
    assert lines["tracing"].endswith(
        "off: opentelemetry-api is not installed (pip install 'realtime-service[tracing]')"
    )
    assert lines["metrics"].startswith("fail  metrics ")
    assert "prometheus-client is not installed: serve would refuse to start" in lines["metrics"]
    assert "realtime-service[metrics]" in lines["metrics"]
    code, lines = doctor_process(emulator, hidden="opentelemetry,prometheus_client")
    assert code == 0, lines
    assert lines["metrics"].endswith("off (server.metrics not set)")
