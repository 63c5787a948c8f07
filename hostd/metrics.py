"""Daemon telemetry in Prometheus text format (prometheus_client): jobs, queue, link, device counters.

Host-side series are updated as jobs run; link and device series are collected
at scrape time from `Link.stats` and the last TELEMETRY answer (the daemon
refreshes it after jobs and on scrape). Device-derived figures (SRAM hit rate,
DMA/compute overlap) come from `asic_model.metrics.derived_metrics`, the single
definition of docs/performance-counters.md.

Usage:
    m = Metrics(); m.job_latency.observe(0.012); m.render() -> bytes (GET /metrics)
    m.worker_restarts.inc(); m.worker_alive.set_function(lambda: 1)
    m.device_source = lambda: (telemetry_dict, info_dict); m.link_source = lambda: link.stats
"""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from asic_model.metrics import derived_metrics

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LINK_ERROR_KINDS = ("timeouts", "rx_bad_frames", "nacks", "link_drops", "link_timeouts", "event_gaps")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Collector:
    def __init__(self, metrics: "Metrics"):
        self.m = metrics

    def collect(self):
        stats = self.m.link_source() or {}
        errors = CounterMetricFamily("tessera_hostd_link_errors", "link errors by kind", labels=["kind"])
        for kind in LINK_ERROR_KINDS:
            errors.add_metric([kind], stats.get(kind, 0))
        yield errors
        yield CounterMetricFamily("tessera_hostd_link_retransmits", "request retransmissions",
                                  value=stats.get("retransmits", 0))
        yield CounterMetricFamily("tessera_hostd_device_resets", "device resets noticed (boot counter changes)",
                                  value=self.m.device_resets)
        telemetry, info = self.m.device_source() or ({}, {})
        if not telemetry:
            return
        counters = GaugeMetricFamily("tessera_device_counter", "device TELEMETRY counters (since device boot)",
                                     labels=["name"])
        for name, value in telemetry.items():
            counters.add_metric([name], value)
        yield counters
        profile = SimpleNamespace(clock_hz=info.get("clock_hz") or 1,
                                  macs_per_cycle=(info.get("array_rows") or 1) * (info.get("array_cols") or 1))
        derived = derived_metrics({k.upper(): v for k, v in telemetry.items()}, profile)
        for name in ("sram_hit_rate", "overlap_ratio", "array_utilization"):
            if derived.get(name) is not None:
                yield GaugeMetricFamily(f"tessera_device_{name}", f"derived from the PERF counters: {name}",
                                        value=derived[name])
        jobs = telemetry.get("jobs_done", 0)
        if jobs:
            yield GaugeMetricFamily("tessera_device_energy_per_inference_nj", "device energy per finished device job",
                                    value=telemetry.get("energy_nj", 0) / jobs)
        yield GaugeMetricFamily("tessera_device_spills", "DMA spill transfers", value=telemetry.get("spills", 0))


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.job_latency = Histogram("tessera_hostd_job_latency_seconds", "accept-to-finish latency of jobs",
                                     buckets=LATENCY_BUCKETS, registry=self.registry)
        self.run_latency = Histogram("tessera_hostd_device_run_seconds", "device time of one job attempt",
                                     buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("tessera_hostd_queue_depth", "jobs waiting in the queue", registry=self.registry)
        self.jobs = Counter("tessera_hostd_jobs", "finished jobs by outcome", ["state"], registry=self.registry)
        self.retries = Counter("tessera_hostd_job_retries", "job attempts retried after a timeout, reset or link failure",
                               registry=self.registry)
        self.rejected = Counter("tessera_hostd_rejected", "API requests refused", ["reason"], registry=self.registry)
        self.worker_restarts = Counter("tessera_hostd_worker_restarts", "times the job worker ended and was restarted",
                                       registry=self.registry)
        self.worker_alive = Gauge("tessera_hostd_worker_alive", "1 while the job worker runs", registry=self.registry)
        self.pruned = Counter("tessera_hostd_jobs_pruned", "finished jobs deleted from the journal by retention",
                              registry=self.registry)
        self.device_resets = 0
        self.link_source = lambda: {}
        self.device_source = lambda: ({}, {})
        self.registry.register(_Collector(self))

    def render(self) -> bytes:
        return generate_latest(self.registry)
