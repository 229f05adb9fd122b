"""docs/operating.md and deploy/: the alerting rules pass ``promtool check rules`` and their unit tests (every rule
made to fire), the page's table names exactly those rules with their expressions, the page's Prometheus
configuration passes ``promtool check config``, and every query of the rules and the Grafana dashboard names only
metrics the package's registry exposes, with labels those metrics have. (A real Prometheus scraping ``serve`` with
the page's configuration: ``token_server/test_prometheus.py``.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from operating import (
    ALERTS,
    ALERTS_TEST,
    ROOT,
    TARGET_LABELS,
    Query,
    alert_rules,
    alert_table,
    dashboard,
    dashboard_queries,
    exposed_metrics,
    kept_labels,
    problems,
    prometheus_binary,
    prometheus_config_text,
    promtool_commands,
    read,
    substitute,
    without_grafana_variables,
)

pytest.importorskip("prometheus_client", reason="the metrics extra (installed by dev) defines the metrics")


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [prometheus_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_pages_promtool_commands_pass() -> None:
    """The two commands the page tells an operator to run, run as shown from the repository's root."""
    commands = promtool_commands()
    assert [command[:3] for command in commands] == [["promtool", "check", "rules"], ["promtool", "test", "rules"]]
    assert commands[0][3:] == [str(ALERTS.relative_to(ROOT))]
    assert commands[1][3:] == [str(ALERTS_TEST.relative_to(ROOT))]
    for command in commands:
        result = promtool(*command[1:])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout
    checked = promtool("check", "rules", str(ALERTS)).stdout
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked


def test_the_rules_unit_tests_can_fail(tmp_path: Path) -> None:
    """The same unit tests against rules whose thresholds nobody reaches: promtool reports every firing rule."""
    loaded = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in loaded["groups"]:
        for rule in group["rules"]:
            rule["expr"] = f"({rule['expr']}) > 1e12"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(loaded), encoding="utf-8")
    (tmp_path / "alerts_test.yml").write_text(ALERTS_TEST.read_text(encoding="utf-8"), encoding="utf-8")
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    for name in alert_rules():
        assert f"alertname: {name}," in result.stdout + result.stderr, name


def test_every_rule_is_made_to_fire_and_to_stay_quiet() -> None:
    """alerts_test.yml expects each rule to fire at least once, and each also to stay quiet at least once."""
    tests = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    assert tests["rule_files"] == ["alerts.yml"]
    cases = [case for test in tests["tests"] for case in test["alert_rule_test"]]
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert fired == set(alert_rules())
    assert quiet == set(alert_rules())


def test_every_rule_has_a_severity_and_a_summary() -> None:
    for name, rule in alert_rules().items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"], name


def test_the_pages_table_names_exactly_the_rules_with_their_expressions() -> None:
    table = alert_table()
    rules = alert_rules()
    assert list(table) == list(rules)
    for name, rule in rules.items():
        shown, expression = table[name]
        assert expression == " ".join(rule["expr"].split()), name
        severity = rule["labels"]["severity"]
        assert shown == (f"({severity}, for {rule['for']})" if "for" in rule else f"({severity})"), name


def test_the_pages_prometheus_configuration_passes_promtool(tmp_path: Path) -> None:
    """``promtool check config`` on the block as shown, with its rule file where the page says to put a copy."""
    text = prometheus_config_text()
    shown = yaml.safe_load(text)
    [rule_file] = shown["rule_files"]
    (tmp_path / "alerts.yml").write_text(ALERTS.read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "prometheus.yml"
    config.write_text(substitute(text, rule_file, str(tmp_path / "alerts.yml")), encoding="utf-8")
    result = promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout
    [job] = shown["scrape_configs"]
    assert job["job_name"] == "realtime-service"


def test_the_rules_use_only_metrics_and_labels_the_package_exposes() -> None:
    exposed = exposed_metrics()
    for name, rule in alert_rules().items():
        assert problems(rule["expr"], exposed) == [], name


def test_the_dashboards_queries_use_only_metrics_and_labels_the_package_exposes() -> None:
    exposed = exposed_metrics()
    queries = dashboard_queries()
    assert len(queries) >= 14
    for title, expr in queries.items():
        assert problems(without_grafana_variables(expr), exposed) == [], title


def test_the_dashboard_and_the_rules_watch_every_metric() -> None:
    """A metric added to the package without a panel or a rule fails here."""
    watched = {
        selector.metric
        for expr in [*dashboard_queries().values(), *(rule["expr"] for rule in alert_rules().values())]
        for selector in read(without_grafana_variables(expr)).selectors
    }
    families = {name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for name in watched}
    exposed = {name.removesuffix("_bucket") for name in exposed_metrics() if not name.endswith(("_sum", "_count"))}
    assert exposed - families == set()


def test_the_dashboards_queries_parse_in_promtool(tmp_path: Path) -> None:
    """Grafana is not installed here: each query (its variables put in) becomes a recording rule, which promtool
    parses with Prometheus's own PromQL parser."""
    queries = dashboard_queries()
    rules = [
        {"record": f"dashboard:query_{index}", "expr": without_grafana_variables(expr)}
        for index, expr in enumerate(queries.values())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"  # the check itself can fail
    broken.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum by (("}]}]}))
    assert promtool("check", "rules", str(broken)).returncode != 0


def test_the_dashboard_is_grafana_schema_39_with_a_datasource_variable() -> None:
    board = dashboard()
    assert board["schemaVersion"] == 39
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    job = re.fullmatch(r"label_values\((\w+), (\w+)\)", variables["job"]["definition"])
    assert job, variables["job"]
    assert variables["job"]["query"]["query"] == job[0]
    assert job[1] in exposed_metrics()
    assert job[2] in TARGET_LABELS
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert 'job=~"$job"' in target["expr"], panel["title"]


# -- the checker itself ---------------------------------------------------------------------------------------------


def test_the_reader_finds_metrics_matchers_and_groupings() -> None:
    query = read(
        'histogram_quantile(0.99, sum by (operation, le) (rate(a_bucket{job=~"x", outcome!="ok"}[5m]))) '
        '/ on (operation) sum(rate(b_total{reason=~"a|b"}[1m])) by (route) > 0.5 and up == 0'
    )
    assert isinstance(query, Query)
    assert [(s.metric, sorted(s.labels)) for s in query.selectors] == [
        ("a_bucket", ["job", "outcome"]),
        ("b_total", ["reason"]),
        ("up", []),
    ]
    assert [(g.keyword, sorted(g.labels)) for g in query.groupings] == [
        ("by", ["le", "operation"]),
        ("on", ["operation"]),
        ("by", ["route"]),
    ]


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("rate(realtime_service_keys_minted[5m])", "realtime_service_keys_minted: no such metric"),
        ("sum(rate(realtime_service_requests_total{reason='x'}[5m]))", "has no label ['reason']"),
        ("sum by (reason) (rate(realtime_service_requests_total[5m]))", "has no label ['reason']"),
        ("sum(rate(realtime_service_refusals_total[5m])) by (status)", "has no label ['status']"),
        ("histogram_quantile(0.5, sum by (le) (rate(realtime_service_upstream_call_seconds_sum[5m])))", "['le']"),
        ("sum by (route) (vector(1))", "groups no metric"),
    ],
)
def test_the_check_refuses_what_does_not_exist(expr: str, problem: str) -> None:
    found = problems(expr, exposed_metrics())
    assert any(problem in line for line in found), found


def test_the_reader_refuses_what_it_cannot_read() -> None:
    from operating import PromQLError

    for expr in ('{__name__="x"}', "sum by (a)", "x # comment"):
        with pytest.raises(PromQLError):
            problems(expr, {"x": frozenset()})


def test_a_missing_prometheus_is_a_skip_the_ci_gate_accepts() -> None:
    """Without Debian's prometheus these tests skip in words ``--only-system-skips`` lets through (a system
    package), and the words are not those of a missing Python package."""
    from skip_gate import SYSTEM_PACKAGE_REASON

    with pytest.raises(pytest.skip.Exception) as skipped:
        prometheus_binary("promtool-that-is-not-installed")
    assert SYSTEM_PACKAGE_REASON.search(str(skipped.value))
    assert not SYSTEM_PACKAGE_REASON.search("prometheus-client is not installed")


def test_legends_and_summaries_name_labels_their_query_keeps() -> None:
    """A legend's ``{{label}}`` or a summary's ``$labels.label`` that the query aggregates away would show empty."""
    exposed = exposed_metrics()
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            named = set(re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]))
            kept = kept_labels(without_grafana_variables(target["expr"]), exposed)
            assert named <= kept, f"{panel['title']} / {target['refId']}: {sorted(named - kept)}"
    for name, rule in alert_rules().items():
        named = set(re.findall(r"\$labels\.(\w+)", rule["annotations"]["summary"]))
        assert named <= kept_labels(rule["expr"], exposed), name
    assert kept_labels("sum(rate(realtime_service_keys_minted_total[5m]))", exposed) == frozenset()
    assert kept_labels("sum by (route) (rate(realtime_service_requests_total[5m]))", exposed) == {"route"}
