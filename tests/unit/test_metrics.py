from __future__ import annotations

import math

import pytest

from bridge.call.actions import Note
from bridge.web.calls import CallRegistry
from bridge.web.metrics import BridgeMetrics, Collected, Histogram, MetricsRegistry, format_value


def test_values_are_written_as_prometheus_reads_them() -> None:
    assert [format_value(v) for v in (0, 3, 3.0, 0.25, 1e-3, math.inf, -math.inf)] == [
        "0",
        "3",
        "3",
        "0.25",
        "0.001",
        "+Inf",
        "-Inf",
    ]
    assert format_value(math.nan) == "NaN"
    assert format_value(2.0**60) == "1.152921504606847e+18"


def test_collected_metrics_render_help_type_and_sorted_escaped_samples() -> None:
    registry = MetricsRegistry()
    registry.register(Collected("x_active", "Things now.", "gauge", lambda: {(): 2}))
    values: dict[tuple[str, ...], float] = {("b",): 1.0, ("a\\b",): 2.0, ('say "hi"\nbye',): 0.5}
    registry.register(Collected("x_total", "Things\\done\nso far.", "counter", lambda: values, ("kind",)))
    registry.register(Collected("x_empty_total", "None yet.", "counter", dict, ("code",)))
    assert registry.render() == (
        "# HELP x_active Things now.\n"
        "# TYPE x_active gauge\n"
        "x_active 2\n"
        "# HELP x_total Things\\\\done\\nso far.\n"
        "# TYPE x_total counter\n"
        'x_total{kind="a\\\\b"} 2\n'
        'x_total{kind="b"} 1\n'
        'x_total{kind="say \\"hi\\"\\nbye"} 0.5\n'
        "# HELP x_empty_total None yet.\n"
        "# TYPE x_empty_total counter\n"
    )


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    histogram = Histogram("x_seconds", "How long.", (0.1, 0.5, 1))
    for value in (0.05, 0.1, 0.3, 2.5):
        histogram.observe(value)
    registry = MetricsRegistry()
    registry.register(histogram)
    assert registry.render() == (
        "# HELP x_seconds How long.\n"
        "# TYPE x_seconds histogram\n"
        'x_seconds_bucket{le="0.1"} 2\n'
        'x_seconds_bucket{le="0.5"} 3\n'
        'x_seconds_bucket{le="1.0"} 3\n'
        'x_seconds_bucket{le="+Inf"} 4\n'
        "x_seconds_sum 2.95\n"
        "x_seconds_count 4\n"
    )


def test_histogram_buckets_must_increase_and_names_must_be_unique() -> None:
    with pytest.raises(ValueError):
        Histogram("h", "h", (1.0, 0.5))
    with pytest.raises(ValueError):
        Histogram("h", "h", ())
    registry = MetricsRegistry()
    registry.register(Histogram("h", "h", (1.0,)))
    with pytest.raises(ValueError):
        registry.register(Histogram("h", "again", (1.0,)))


def test_bridge_metrics_with_no_calls_and_one_latency_note() -> None:
    metrics = BridgeMetrics(CallRegistry())
    metrics.observe_note(Note("latency", 1200, {"ms": 412.5}))
    metrics.observe_note(Note("barge_in", 1300, {"truncated": []}))
    buckets = "".join(
        f'bridge_response_latency_seconds_bucket{{le="{le}"}} {0 if float(le) < 0.5 else 1}\n'
        for le in ("0.1", "0.2", "0.3", "0.4", "0.5", "0.75", "1.0", "1.5", "2.0", "3.0", "5.0", "10.0")
    )
    assert metrics.render() == (
        "# HELP bridge_active_calls Calls in progress.\n"
        "# TYPE bridge_active_calls gauge\n"
        "bridge_active_calls 0\n"
        "# HELP bridge_calls_total Calls finished, by end reason.\n"
        "# TYPE bridge_calls_total counter\n"
        "# HELP bridge_frames_in_total Caller audio frames received.\n"
        "# TYPE bridge_frames_in_total counter\n"
        "bridge_frames_in_total 0\n"
        "# HELP bridge_frames_out_total Agent audio chunks sent to callers.\n"
        "# TYPE bridge_frames_out_total counter\n"
        "bridge_frames_out_total 0\n"
        "# HELP bridge_barge_ins_total Times a caller interrupted agent audio.\n"
        "# TYPE bridge_barge_ins_total counter\n"
        "bridge_barge_ins_total 0\n"
        "# HELP bridge_truncations_total Agent items truncated after a barge-in.\n"
        "# TYPE bridge_truncations_total counter\n"
        "bridge_truncations_total 0\n"
        "# HELP bridge_upstream_errors_total Upstream failures (connection refused or lost, error events), by code.\n"
        "# TYPE bridge_upstream_errors_total counter\n"
        "# HELP bridge_malformed_frames_total Media stream frames that could not be decoded "
        "(skipped; the call went on).\n"
        "# TYPE bridge_malformed_frames_total counter\n"
        "bridge_malformed_frames_total 0\n"
        "# HELP bridge_response_latency_seconds Time from the caller's end of speech to the first agent audio "
        "frame sent to the caller.\n"
        "# TYPE bridge_response_latency_seconds histogram\n"
        f"{buckets}"
        'bridge_response_latency_seconds_bucket{le="+Inf"} 1\n'
        "bridge_response_latency_seconds_sum 0.4125\n"
        "bridge_response_latency_seconds_count 1\n"
    )
