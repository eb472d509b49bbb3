"""The receiver's own Prometheus metrics (one registry per application)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "prospectpro_webhooks_received_total",
            "Webhooks received, by type and outcome",
            ["webhook_type", "outcome"],
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "prospectpro_enrichment_stage_duration_seconds",
            "Time the receiver spent on an enrichment stage",
            ["stage"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8),
            registry=self.registry,
        )
        self.provider_calls = Counter(
            "prospectpro_provider_calls_total",
            "External API calls made by the enrichment stages",
            ["api_name"],
            registry=self.registry,
        )
        self.provider_cost = Counter(
            "prospectpro_provider_cost_usd_total",
            "What the external API calls cost, in USD",
            ["api_name"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "prospectpro_cost_alerts_received_total",
            "Cost alerts received, by type and severity",
            ["alert_type", "severity"],
            registry=self.registry,
        )
        self.lifecycle = Counter(
            "prospectpro_campaign_events_received_total",
            "Campaign lifecycle events received, by event",
            ["lifecycle_event"],
            registry=self.registry,
        )
