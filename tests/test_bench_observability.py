"""The observability bench in its ``--quick`` mode, so it cannot rot: six ``serve`` processes (metrics and
tracing off, the API alone, metrics, the SDK, both, both with one trace in ten sampled) answer every mint and
exchange; each proves its mode (the SDK ones exported two spans per request, the sampled one at most that, the
others none; the metrics ones counted every mint) and the ratio lines are printed. Figures are not asserted
(the bench measures, the docs report)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed (the dev extra brings it)")
pytest.importorskip("prometheus_client", reason="prometheus-client is not installed (the dev extra brings it)")


def test_the_observability_bench_runs_every_mode_and_reports_the_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_observability", Path(__file__).parents[1] / "bench" / "bench_observability.py"
    )
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[-1].startswith("BENCH-OBSERVABILITY-RESULT ")
    result = json.loads(lines[-1].split(" ", 1)[1])
    modes = {"off", "api", "metrics", "tracing", "both", "both-10%"}
    for call in ("token", "session"):
        assert set(result[call]) == modes
        assert result[call]["off"]["ratio"] == 1.0
        for row in result[call].values():
            assert row["median_us"] > 0
            assert row["paired_ratio"] > 0
    proof, calls = result["proof"], result["calls"]
    assert proof.pop("toggled") == {"spans_per_request_on": 2.0}  # every request served on, and none served off
    for mode in modes - {"both-10%"}:
        assert proof[mode]["spans_per_request"] == (2.0 if mode in ("tracing", "both") else 0.0)
    assert 0.0 <= proof["both-10%"]["spans_per_request"] <= 2.0  # sampled: whole traces of two spans, or none
    for mode in modes:
        minted = proof[mode]["keys_minted_metric"]
        assert minted == (calls["mint"] if mode in ("metrics", "both", "both-10%") else None)
    for call in ("mint", "session"):  # the one process switched off and on between its cells
        toggled = result["toggled"][call]
        assert set(toggled) == {"off", "on"}
        assert toggled["off"]["ratio"] == 1.0
        assert toggled["on"]["median_us"] > 0
    assert any(line.startswith("metrics+tracing on / off in one process, per mint: ") for line in lines)
    assert "POST /token, server CPU per mint" in out
    assert "POST /session, server CPU per exchange" in out
    assert any(line.startswith("metrics+tracing on / off, per mint: ") for line in lines)
