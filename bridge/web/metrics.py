"""Prometheus metrics: a small registry that renders text exposition format 0.0.4.

No client library: the bridge needs counters, gauges and one histogram, and the format is a few
lines of text (HELP, TYPE, one sample per line). Counters and gauges are read when scraped
(``Collected``: a callback returning the current values), which keeps per-frame counters off the
hot path: they live in each call's session and are summed only when ``/metrics`` is read. The
latency histogram is pushed (``Histogram.observe``) from each call's notes.

Rendering rules: metrics in registration order; samples of a labelled metric sorted by label
values; label values escaped (``\\``, ``"``, newline), HELP text escaped (``\\``, newline);
integral values written without a fraction (``3``), others with Python's shortest repr
(``0.25``), infinities as ``+Inf``/``-Inf``; histogram bucket bounds always as floats (``le="1.0"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from bridge.archive.writer import ArchiveWriter
from bridge.call.actions import Note
from bridge.web.calls import CallRegistry

__all__ = [
    "CONTENT_TYPE",
    "LATENCY_BUCKETS",
    "BridgeMetrics",
    "Collected",
    "Histogram",
    "Metric",
    "MetricsRegistry",
    "format_value",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Seconds from the caller's end of speech to the first agent audio: good calls sit well under 1 s."""

Kind = Literal["counter", "gauge", "histogram"]
LabelValues = tuple[str, ...]
Sample = tuple[str, Sequence[tuple[str, str]], float]  # (name suffix, labels, value)


def format_value(value: float) -> str:
    """A sample value as Prometheus text."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


class Metric:
    """Base of every metric: a name, help text, a type and label names."""

    kind: Kind

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)

    def samples(self) -> Iterable[Sample]:
        """The metric's samples, in output order."""
        raise NotImplementedError

    def _labels(self, values: LabelValues) -> tuple[tuple[str, str], ...]:
        return tuple(zip(self.labelnames, values, strict=True))


class Collected(Metric):
    """A counter or gauge whose values are read from ``collect`` at every scrape.

    ``collect`` returns label values (a tuple in ``labelnames`` order; ``()`` when unlabelled) -> value.
    """

    def __init__(
        self,
        name: str,
        help: str,
        kind: Literal["counter", "gauge"],
        collect: Callable[[], Mapping[LabelValues, float]],
        labelnames: Sequence[str] = (),
    ) -> None:
        super().__init__(name, help, labelnames)
        self.kind = kind
        self._collect = collect

    def samples(self) -> Iterable[Sample]:
        values = self._collect()
        for key in sorted(values):
            yield "", self._labels(key), values[key]


class Histogram(Metric):
    """Observations counted into cumulative buckets (``le``), with their sum and count."""

    kind: Kind = "histogram"

    def __init__(self, name: str, help: str, buckets: Sequence[float]) -> None:
        super().__init__(name, help)
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError("buckets must be distinct and increasing")
        self.buckets = tuple(float(b) for b in buckets)
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self._counts[index] += 1
                break
        self._sum += value
        self._count += 1

    def samples(self) -> Iterable[Sample]:
        cumulative = 0
        for bound, count in zip(self.buckets, self._counts, strict=True):
            cumulative += count
            yield "_bucket", (("le", _bound(bound)),), cumulative
        yield "_bucket", (("le", "+Inf"),), self._count
        yield "_sum", (), self._sum
        yield "_count", (), self._count


class MetricsRegistry:
    """Metrics in registration order, rendered together."""

    def __init__(self) -> None:
        self._metrics: list[Metric] = []

    def register(self, metric: Metric) -> None:
        if any(m.name == metric.name for m in self._metrics):
            raise ValueError(f"metric {metric.name} is already registered")
        self._metrics.append(metric)

    def render(self) -> str:
        """The whole registry in text format 0.0.4 (ends with a newline)."""
        lines: list[str] = []
        for metric in self._metrics:
            lines.append(f"# HELP {metric.name} {_escape_help(metric.help)}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            for suffix, labels, value in metric.samples():
                label_text = ",".join(f'{name}="{_escape_label(val)}"' for name, val in labels)
                braces = f"{{{label_text}}}" if label_text else ""
                lines.append(f"{metric.name}{suffix}{braces} {format_value(value)}")
        return "\n".join(lines) + "\n"


class BridgeMetrics:
    """The bridge's metrics over a :class:`CallRegistry`; ``observe_note`` is each call's note observer.

    With ``archive_writer`` (it returns the archive's writer while there is one) the writer's counters
    are the ``bridge_archive_*`` metrics (without samples while there is no writer).
    """

    def __init__(self, calls: CallRegistry, archive_writer: Callable[[], ArchiveWriter | None] | None = None) -> None:
        self.calls = calls
        self.registry = MetricsRegistry()
        self.response_latency = Histogram(
            "bridge_response_latency_seconds",
            "Time from the caller's end of speech to the first agent audio frame sent to the caller.",
            LATENCY_BUCKETS,
        )

        def totals(read: Callable[[CallRegistry], float]) -> Callable[[], Mapping[LabelValues, float]]:
            return lambda: {(): read(calls)}

        for metric in (
            Collected("bridge_active_calls", "Calls in progress.", "gauge", totals(lambda c: len(c.live))),
            Collected(
                "bridge_calls_total",
                "Calls finished, by end reason.",
                "counter",
                lambda: {(reason,): n for reason, n in calls.end_reasons.items()},
                ("reason",),
            ),
            Collected(
                "bridge_frames_in_total",
                "Caller audio frames received.",
                "counter",
                totals(lambda c: c.totals().frames_in),
            ),
            Collected(
                "bridge_frames_out_total",
                "Agent audio chunks sent to callers.",
                "counter",
                totals(lambda c: c.totals().frames_out),
            ),
            Collected(
                "bridge_barge_ins_total",
                "Times a caller interrupted agent audio.",
                "counter",
                totals(lambda c: c.totals().barge_ins),
            ),
            Collected(
                "bridge_truncations_total",
                "Agent items truncated after a barge-in.",
                "counter",
                totals(lambda c: c.totals().truncations),
            ),
            Collected(
                "bridge_upstream_errors_total",
                "Upstream failures (connection refused or lost, error events), by code.",
                "counter",
                lambda: {(code,): n for code, n in calls.totals().upstream_errors.items()},
                ("code",),
            ),
            Collected(
                "bridge_malformed_frames_total",
                "Media stream frames that could not be decoded (skipped; the call went on).",
                "counter",
                totals(lambda c: c.totals().malformed_frames),
            ),
            self.response_latency,
        ):
            self.registry.register(metric)
        if archive_writer is not None:
            self._register_archive(archive_writer)

    def _register_archive(self, get_writer: Callable[[], ArchiveWriter | None]) -> None:
        def archive(read: Callable[[ArchiveWriter], float]) -> Callable[[], Mapping[LabelValues, float]]:
            def collect() -> Mapping[LabelValues, float]:
                writer = get_writer()
                return {} if writer is None else {(): read(writer)}

            return collect

        for metric in (
            Collected(
                "bridge_archive_written_total",
                "Archive operations written to the database.",
                "counter",
                archive(lambda w: w.written),
            ),
            Collected(
                "bridge_archive_retried_total",
                "Archive batch attempts that failed because the database was unavailable (retried).",
                "counter",
                archive(lambda w: w.retried),
            ),
            Collected(
                "bridge_archive_dropped_total",
                "Archive operations lost: queue full, or still unwritten at shutdown.",
                "counter",
                archive(lambda w: w.dropped),
            ),
            Collected(
                "bridge_archive_rejected_total",
                "Archive operations the database refused.",
                "counter",
                archive(lambda w: w.rejected),
            ),
            Collected(
                "bridge_archive_pending",
                "Archive operations queued and not yet written.",
                "gauge",
                archive(lambda w: w.pending),
            ),
        ):
            self.registry.register(metric)

    def observe_note(self, note: Note) -> None:
        """Feed one call note (only ``latency`` notes are measured)."""
        if note.kind == "latency":
            ms = note.data.get("ms")
            if isinstance(ms, int | float):
                self.response_latency.observe(ms / 1000.0)

    def render(self) -> str:
        return self.registry.render()
