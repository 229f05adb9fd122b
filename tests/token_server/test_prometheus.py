"""A real Prometheus (Debian's ``prometheus`` binary) scraping a real ``serve`` with the configuration that
docs/operating.md shows, on loopback.

The page's ``# prometheus.yml`` block is used as shown, with four substitutions each asserted to be there once:
the target's port (``serve``'s metrics listener on a free port), the rule file (this repository's
``deploy/prometheus/alerts.yml``) and both intervals (1 s instead of 15 s, so the test is quick). Prometheus
runs with a temporary ``--storage.tsdb.path`` on ``127.0.0.1:<free port>``. After three mints (each waited for
in Prometheus's own answers before the next) and a refused bearer, its HTTP API shows exactly those counts,
``up == 1``, the rules loaded and healthy, and an answer to every query of the Grafana dashboard. Then Debian's
chromium shows its graph page of ``realtime_service_requests_total``, saved as ``prometheus-graph.png`` in
``$PYTEST_ARTIFACTS`` (the picture on the page). Waits poll a condition against a deadline, never a sleep.
Skipped, saying so in the words ``--only-system-skips`` accepts, when Debian's prometheus is not installed.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from operating import (
    ALERTS,
    JOB,
    PAGE,
    alert_rules,
    dashboard_queries,
    prometheus_binary,
    prometheus_config_text,
    substitute,
    without_grafana_variables,
)

from realtime_service.emulator import Emulator

from .conftest import realtime_config
from .test_token_browser import ARTIFACTS, until

pytest.importorskip("prometheus_client", reason="the metrics extra (installed by dev) makes serve's metrics")

TOKEN = "prometheus-test-bearer-0123456789abcdef"
SHOT = "prometheus-graph.png"
DEADLINE = 60.0
assert PAGE.name == "operating.md"  # tests/test_doc_blocks.py: this test reads docs/operating.md's prometheus.yml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(check: Callable[[], Any], what: str) -> Any:
    """``check()``'s first truthy answer, asked again every 0.2 s until :data:`DEADLINE`; then fail, saying what
    never happened and the last answer."""
    deadline = time.monotonic() + DEADLINE
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened (last answer: {answer!r})")
        time.sleep(0.2)


class Prometheus:
    """``prometheus`` on ``127.0.0.1:<free port>`` with ``config``, its data in ``folder``, its log in a file."""

    def __init__(self, config: str, folder: Path) -> None:
        (folder / "prometheus.yml").write_text(config, encoding="utf-8")
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = folder / "prometheus.log"
        self.process = subprocess.Popen(
            [
                prometheus_binary("prometheus"),
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        try:
            poll(self.ready, "Prometheus ready")
        except BaseException:
            self.stop()
            raise

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
        try:
            return requests.get(f"{self.url}/-/ready", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def api(self, path: str, **params: str) -> Any:
        answer = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The one sample ``expr`` gives now, or None when it gives none."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def documented_config(metrics_port: int) -> str:
    """The page's prometheus.yml, as shown but for the target's port, the rule file and the intervals."""
    text = prometheus_config_text()
    shown = yaml.safe_load(text)
    [rule_file] = shown["rule_files"]
    [job] = shown["scrape_configs"]
    assert job["job_name"] == JOB
    [[target]] = [entry["targets"] for entry in job["static_configs"]]
    text = substitute(text, f'"{target}"', f'"127.0.0.1:{metrics_port}"')
    text = substitute(text, rule_file, str(ALERTS))
    text = substitute(text, "scrape_interval: 15s", "scrape_interval: 1s")
    return substitute(text, "evaluation_interval: 15s", "evaluation_interval: 1s")


@pytest.fixture
def prometheus_and_serve(tmp_path: Path, start: Any) -> Iterator[tuple[Prometheus, str, str]]:
    """``serve`` (bearer auth, metrics on a free port) against a fresh emulator, and a Prometheus scraping it;
    yields them and the emulator's API key."""
    prometheus_binary("prometheus")
    metrics_port = free_port()
    with Emulator() as emulator:
        server = {
            "auth": "bearer",
            "bearer_tokens": {"app": TOKEN},
            "rate_limit": "off",
            "metrics": {"address": "127.0.0.1", "port": metrics_port},
        }
        config = tmp_path / "serve.yaml"
        config.write_text(yaml.safe_dump({"realtime": realtime_config(emulator), "server": server}), encoding="utf-8")
        served = start("--config", str(config))
        try:
            folder = tmp_path / "prometheus"
            folder.mkdir()
            prometheus = Prometheus(documented_config(metrics_port), folder)
            try:
                yield prometheus, served.url, emulator.api_key
            finally:
                prometheus.stop()
        finally:
            code = served.stop()
        assert code == 0, served.stderr


@pytest.mark.timeout(240)
def test_prometheus_scrapes_serve_with_the_documented_configuration(
    prometheus_and_serve: tuple[Prometheus, str, str], browser: Any
) -> None:
    prometheus, url, api_key = prometheus_and_serve
    up = f'up{{job="{JOB}"}}'
    poll(lambda: prometheus.value(up) == 1, f"{up} == 1")
    began = time.monotonic()
    minted = f'realtime_service_keys_minted_total{{job="{JOB}"}}'
    assert prometheus.value(minted) == 0  # scraped before anything was minted
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    keys = []
    for count in (1, 2, 3):  # one at a time: each step is in Prometheus before the next (a staircase on the graph)
        answer = requests.post(f"{url}/token", json={}, headers=bearer, timeout=30)
        assert answer.status_code == 200, answer.text
        keys.append(answer.json()["value"])
        poll(lambda count=count: prometheus.value(minted) == count, f"{minted} == {count}")
    refused = requests.post(f"{url}/token", json={}, headers={"Authorization": "Bearer not-the-token"}, timeout=30)
    assert refused.status_code == 401
    unauthorized = f'realtime_service_refusals_total{{job="{JOB}", route="token", reason="unauthorized"}}'
    poll(lambda: prometheus.value(unauthorized) == 1, f"{unauthorized} == 1")
    # exactly what happened, nothing more
    assert prometheus.value(minted) == 3
    assert prometheus.value(f'realtime_service_requests_total{{job="{JOB}", route="token", status="200"}}') == 3
    assert prometheus.value(f'sum(realtime_service_refusals_total{{job="{JOB}"}})') == 1
    assert prometheus.value(f'count(up{{job="{JOB}"}})') == 1
    # what Prometheus stored: no secret in any label name or value
    stored = " ".join(
        f"{name}={value}" for name in prometheus.api("labels") for value in prometheus.api(f"label/{name}/values")
    )
    assert "reason=unauthorized" in stored  # the check reads what was stored
    for secret in (TOKEN, "not-the-token", api_key, *keys):
        assert secret not in stored

    # the rules of deploy/prometheus/alerts.yml loaded, evaluated and healthy (an evaluation error is "err")
    def rules_evaluated() -> list[dict[str, Any]] | None:
        groups = prometheus.api("rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(rule["health"] == "ok" for rule in rules) else None

    rules = poll(rules_evaluated, "every rule evaluated without error")
    assert [rule["name"] for rule in rules] == list(alert_rules())
    firing = [alert for alert in prometheus.api("alerts")["alerts"] if alert["state"] == "firing"]
    assert firing == []  # a healthy serve raises nothing

    # every dashboard query is answered; the ones about what just happened are not empty (a rate once the series
    # has two samples)
    for title, expr in dashboard_queries().items():
        query = without_grafana_variables(expr)
        prometheus.query(query)
        if title.startswith(("Keys minted", "Requests/s", "Refusals/s", "Scrape up")):
            poll(lambda query=query: prometheus.query(query), f"an answer to {title}: {query}")

    graph_page(browser, prometheus, seconds=int(time.monotonic() - began) + 6)


def graph_page(driver: Any, prometheus: Prometheus, seconds: int) -> None:
    """Prometheus's classic graph page of ``realtime_service_requests_total`` over the test's last ``seconds``, in
    chromium, waited for until its graph and legend are drawn; saved as :data:`SHOT`."""
    expr = f'realtime_service_requests_total{{job="{JOB}"}}'
    driver.set_window_size(1100, 1000)
    query = {"g0.expr": expr, "g0.tab": "0", "g0.range_input": f"{seconds}s", "g0.stacked": "0"}
    driver.get(f"{prometheus.url}/classic/graph?" + requests.compat.urlencode(query))
    until(driver, lambda d: d.find_elements("css selector", ".graph_area svg path"), "the graph drawn", 30)
    legend = until(driver, lambda d: d.find_elements("css selector", ".legend .line"), "the legend drawn", 30)
    shown = " ".join(item.text for item in legend)
    assert 'status="200"' in shown, shown
    assert 'status="401"' in shown, shown
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / SHOT))
