"""What docs/operating.md and deploy/ give an operator, read the way the tests need it: the page's Prometheus
configuration and promtool commands, the alerting rules, the Grafana dashboard's queries, the package's metric
names and labels, and a small PromQL reader that lists the metrics and labels a query uses.

The PromQL reader is a tokenizer, not a full parser: it knows strings, ranges, label matchers, functions and the
grouping clauses (``by``, ``without``, ``on``, ``ignoring``, ``group_left``, ``group_right``); anything it does not
know fails loudly (:class:`PromQLError`) rather than being skipped, so a query it cannot read is never "checked".
Whether a query is valid PromQL is left to ``promtool`` and the real Prometheus (``test_operating.py``,
``token_server/test_prometheus.py``).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "operating.md"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "realtime-service.json"
#: The job name the page's configuration gives (and the rules watch).
JOB = "realtime-service"
#: Labels Prometheus puts on every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
#: Grafana's variables in the dashboard's queries, and what they stand for in a query Prometheus runs.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$job": JOB}


def prometheus_binary(name: str) -> str:
    """Debian's ``prometheus`` or ``promtool``; else skip in the words ``skip_gate.py`` accepts (a system package)."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"PROMETHEUS TESTS SKIPPED: Debian's prometheus is not installed ({name} not found; apt-get install "
            "prometheus): the alerting rules and the documented scrape configuration are UNTESTED in this run"
        )
    return path


# -- the page ----------------------------------------------------------------------------------------------------------


def page_fences() -> list[tuple[str, str]]:
    """The page's fenced blocks: (language, source)."""
    tokens = MarkdownIt("commonmark").parse(PAGE.read_text(encoding="utf-8"))
    return [(token.info.split()[0] if token.info else "", token.content) for token in tokens if token.type == "fence"]


def prometheus_config_text() -> str:
    """The page's ``# prometheus.yml`` block, exactly as shown."""
    [config] = [
        source for language, source in page_fences() if language == "yaml" and source.startswith("# prometheus.yml\n")
    ]
    return config


def promtool_commands() -> list[list[str]]:
    """The page's ``promtool`` command lines (from a bash block), split into words."""
    import shlex

    return [
        shlex.split(line)
        for language, source in page_fences()
        if language == "bash"
        for line in source.splitlines()
        if line.startswith("promtool ")
    ]


def alert_table() -> dict[str, tuple[str, str]]:
    """The page's table of alerts: the alert's name -> (what its first cell says after the name, such as
    ``(critical, for 2m)``; the expression shown). Pipes inside code are not cell separators."""
    rows: dict[str, tuple[str, str]] = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `RealtimeService"):
            continue
        cells = [cell.strip() for cell in re.findall(r"((?:`[^`]*`|[^|`])+)", line.strip().strip("|"))]
        name = re.match(r"`(\w+)` (.*)", cells[0])
        expression = re.fullmatch(r"`([^`]+)`", cells[1])
        assert name, line
        assert expression, line
        assert len(cells) == 4, f"alert, expression, why, what to do: {line}"
        rows[name[1]] = (name[2], expression[1])
    return rows


def substitute(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced by ``new``, which must be there exactly once (so a page edit that moves it
    fails here instead of testing something else)."""
    assert text.count(old) == 1, f"{old!r} is in the page's configuration {text.count(old)} times, not once"
    return text.replace(old, new)


# -- deploy/ -----------------------------------------------------------------------------------------------------------


def alert_rules() -> dict[str, dict[str, Any]]:
    """alerts.yml's rules by name (every rule of every group)."""
    loaded = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    rules = [rule for group in loaded["groups"] for rule in group["rules"]]
    by_name = {rule["alert"]: rule for rule in rules}
    assert len(by_name) == len(rules), "two rules with one name"
    return by_name


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_queries() -> dict[str, str]:
    """Every panel target's ``expr``, keyed ``panel title / refId``."""
    return {
        f"{panel['title']} / {target['refId']}": target["expr"]
        for panel in dashboard()["panels"]
        for target in panel["targets"]
    }


def without_grafana_variables(expr: str) -> str:
    """The query Prometheus gets once Grafana has put its variables in."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
    return expr


# -- the package's metrics ---------------------------------------------------------------------------------------------


def exposed_metrics() -> dict[str, frozenset[str]]:
    """Every series name a scrape of ``serve`` can hold and its label names, read from the package's own registry
    (counters end in ``_total``, histograms give ``_bucket`` (with ``le``), ``_sum`` and ``_count``), plus
    Prometheus's own ``up``."""
    from realtime_service.observability import metrics

    labels = {name: frozenset(names) for _, _, name, _, names in metrics.DEFINITIONS}
    metrics.enable()
    try:
        families = [(family.name, family.type) for family in metrics._registry.collect()]
    finally:
        metrics.disable()
    assert {name for name, _ in families} == set(labels), "the registry and DEFINITIONS disagree"
    exposed: dict[str, frozenset[str]] = {"up": frozenset()}
    for name, kind in families:
        if kind == "counter":
            exposed[f"{name}_total"] = labels[name]
        elif kind == "histogram":
            exposed[f"{name}_bucket"] = labels[name] | {"le"}
            exposed[f"{name}_sum"] = exposed[f"{name}_count"] = labels[name]
        elif kind == "gauge":
            exposed[name] = labels[name]
        else:
            raise AssertionError(f"{name}: a metric type this check does not know: {kind}")
    return exposed


# -- PromQL ------------------------------------------------------------------------------------------------------------


class PromQLError(ValueError):
    """A query the reader cannot read: the check fails rather than pass it unread."""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>==|!=|=~|!~|>=|<=|[-+*/%^<>=,(){}])
    """,
    re.VERBOSE,
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset"})
AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}
)


@dataclass(frozen=True)
class Selector:
    metric: str
    labels: frozenset[str]  # the label names its matchers use
    at: int  # its token's index


@dataclass(frozen=True)
class Grouping:
    keyword: str
    labels: frozenset[str]
    scope: tuple[int, int]  # the token indexes the clause applies to


@dataclass(frozen=True)
class Query:
    selectors: tuple[Selector, ...]
    groupings: tuple[Grouping, ...]


def tokens(expr: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    at = 0
    while at < len(expr):
        match = _TOKEN.match(expr, at)
        if match is None:
            raise PromQLError(f"cannot read {expr[at:at + 20]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            found.append((kind, match.group()))
        at = match.end()
    return found


def _closing(items: list[tuple[str, str]], opening: int) -> int:
    """The index of the ``)`` that closes the ``(`` at ``opening``."""
    depth = 0
    for index in range(opening, len(items)):
        depth += {"(": 1, ")": -1}.get(items[index][1], 0) if items[index][0] == "op" else 0
        if depth == 0:
            return index
    raise PromQLError("unbalanced parentheses")


def _opening(items: list[tuple[str, str]], closing: int) -> int:
    depth = 0
    for index in range(closing, -1, -1):
        depth += {")": 1, "(": -1}.get(items[index][1], 0) if items[index][0] == "op" else 0
        if depth == 0:
            return index
    raise PromQLError("unbalanced parentheses")


def read(expr: str) -> Query:
    """The selectors (metric and matcher labels) and grouping clauses (labels and the part they apply to)."""
    items = tokens(expr)
    selectors: list[Selector] = []
    groupings: list[Grouping] = []
    index = 0
    while index < len(items):
        kind, text = items[index]
        following = items[index + 1][1] if index + 1 < len(items) else ""
        if kind == "ident" and text in GROUPING:
            if following != "(":
                raise PromQLError(f"{text} without a label list in {expr!r}")
            end = _closing(items, index + 1)
            names = [value for item_kind, value in items[index + 2 : end] if item_kind == "ident"]
            if text in ("by", "without"):
                if index > 0 and items[index - 1][1] == ")":  # sum(...) by (labels)
                    scope = (_opening(items, index - 1), index - 1)
                elif end + 1 < len(items) and items[end + 1][1] == "(":  # sum by (labels) (...)
                    scope = (end + 1, _closing(items, end + 1))
                else:
                    raise PromQLError(f"{text} ({', '.join(names)}) applies to nothing in {expr!r}")
            else:  # on/ignoring/group_*: both sides of the operator
                scope = (0, len(items) - 1)
            groupings.append(Grouping(text, frozenset(names), scope))
            index = end + 1
        elif kind == "ident" and (following == "(" or text in AGGREGATIONS | KEYWORDS):  # a function, and, by...
            index += 1
        elif kind == "ident":
            names: list[str] = []
            end = index
            if following == "{":
                end = index + 1
                while items[end][1] != "}":
                    end += 1
                matchers = items[index + 2 : end]
                while matchers:  # label, operator, string, and a comma between
                    if len(matchers) < 3 or matchers[0][0] != "ident" or matchers[2][0] != "string":
                        raise PromQLError(f"a label matcher this reader does not know in {expr!r}")
                    if matchers[1][1] not in ("=", "!=", "=~", "!~"):
                        raise PromQLError(f"matcher operator {matchers[1][1]!r} in {expr!r}")
                    names.append(matchers[0][1])
                    matchers = matchers[4:] if len(matchers) > 3 and matchers[3][1] == "," else matchers[3:]
            selectors.append(Selector(text, frozenset(names), index))
            index = end + 1
        elif text == "{":
            raise PromQLError(f"a selector without a metric name in {expr!r}")
        else:
            index += 1
    return Query(tuple(selectors), tuple(groupings))


def problems(expr: str, exposed: dict[str, frozenset[str]]) -> list[str]:
    """What in ``expr`` does not exist: a metric no scrape holds, a matcher's label the metric lacks, a grouping
    label that none (``by``: not every) of the metrics it groups has."""
    query = read(expr)
    found = []
    if not query.selectors:
        found.append("no metric at all")
    for selector in query.selectors:
        if selector.metric not in exposed:
            found.append(f"{selector.metric}: no such metric")
            continue
        unknown = selector.labels - exposed[selector.metric] - TARGET_LABELS
        if unknown:
            found.append(f"{selector.metric} has no label {sorted(unknown)}")
    for grouping in query.groupings:
        first, last = grouping.scope
        grouped = [s.metric for s in query.selectors if first <= s.at <= last and s.metric in exposed]
        if not grouped:
            found.append(f"{grouping.keyword} ({', '.join(sorted(grouping.labels))}) groups no metric")
        for metric in grouped:
            unknown = grouping.labels - exposed[metric] - TARGET_LABELS
            if unknown:
                found.append(f"{grouping.keyword}: {metric} has no label {sorted(unknown)}")
    return found


def kept_labels(expr: str, exposed: dict[str, frozenset[str]]) -> frozenset[str]:
    """The labels a query's answer can carry, for a legend or an alert's summary to name: those of its ``by``
    clauses when it aggregates, else those of its metrics (and the target's)."""
    query = read(expr)
    grouped = [grouping.labels for grouping in query.groupings if grouping.keyword == "by"]
    if grouped:
        return frozenset().union(*grouped) - {"le"}
    if any(text in AGGREGATIONS for kind, text in tokens(expr) if kind == "ident"):
        return frozenset()  # sum(...) with no by: no label is left
    return frozenset().union(*(exposed.get(s.metric, frozenset()) for s in query.selectors)) | TARGET_LABELS
