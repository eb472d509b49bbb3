"""The receiver's own Prometheus metrics (one registry per application)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily


class Metrics:
    def __init__(self, cache_seconds: float = 5.0) -> None:
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
        self.database = DatabaseCollector(cache_seconds)
        self.registry.register(self.database)
        self.lifecycle = Counter(
            "prospectpro_campaign_events_received_total",
            "Campaign lifecycle events received, by event",
            ["lifecycle_event"],
            registry=self.registry,
        )


# Figures from the database's monitoring views, read at scrape time; a short
# cache keeps a busy Prometheus from querying more than every few seconds.
# Each costs the same however much history is kept: deliveries and latency
# are counters the rounds keep, the queue reads pending and dead events only,
# and per-campaign series cover the campaigns still running plus those that
# finished within CAMPAIGN_WINDOW (with 3 webhook types and 4 alert types, the
# series budget is 5 per such campaign plus about 110).
CAMPAIGN_WINDOW = "24 hours"
DATABASE_QUERIES = {
    "attempts": "select webhook_type, total_webhooks, successful"
    " from prospectpro.webhook_success_rates",
    "queue": "select webhook_type, pending, due, dead, oldest_due_seconds"
    " from prospectpro.delivery_queue",
    "latency": "select webhook_type, le, attempts, sum_seconds, count"
    " from prospectpro.delivery_latency order by webhook_type, le",
    "alerts": "select alert_type, status, count(*) from prospectpro.cost_alert_history"
    " group by alert_type, status",
    "breakers": "select webhook_type, breaker_state, consecutive_failures"
    " from prospectpro.endpoint_status",
    "campaigns": "select campaign_id, name, total_leads, qualified_leads,"
    " processing_cost, completion_percentage from prospectpro.campaign_lifecycle_dashboard"
    " where status in ('created', 'processing', 'paused')"
    f" or updated_at >= now() - interval '{CAMPAIGN_WINDOW}'",
    "campaign_statuses": "select s.status, count(c.id) from unnest(array['created',"
    " 'processing', 'paused', 'completed', 'error', 'cancelled']) as s (status)"
    " left join prospectpro.campaigns as c on c.status = s.status group by s.status",
}


class DatabaseCollector:
    """Yields metric families from the last snapshot of the monitoring views."""

    def __init__(self, cache_seconds: float = 5.0) -> None:
        self.cache_seconds = cache_seconds
        self.snapshot: dict[str, list[tuple]] = {}
        self.taken_at = float("-inf")

    async def refresh(self, pool) -> None:
        if time.monotonic() - self.taken_at < self.cache_seconds:
            return
        async with pool.connection(timeout=2.0) as conn:
            self.snapshot = {
                name: await (await conn.execute(sql)).fetchall()
                for name, sql in DATABASE_QUERIES.items()
            }
        self.taken_at = time.monotonic()

    def collect(self):
        s = self.snapshot
        if not s:
            return
        attempts = CounterMetricFamily(
            "prospectpro_webhook_deliveries", "Delivery attempts by type and outcome",
            labels=["webhook_type", "outcome"],
        )  # fmt: skip
        for webhook_type, total, ok in s["attempts"]:
            attempts.add_metric([webhook_type, "success"], ok)
            attempts.add_metric([webhook_type, "failed"], total - ok)
        yield attempts
        for column, name, help_text in [
            (1, "pending", "Events waiting for delivery"),
            (2, "due", "Events due for delivery now"),
            (3, "dead", "Events that failed their last attempt"),
            (4, "oldest_due_seconds", "How long the oldest due event has waited"),
        ]:
            family = GaugeMetricFamily(
                f"prospectpro_outbox_{name}", help_text, labels=["webhook_type"]
            )
            for row in s["queue"]:
                family.add_metric([row[0]], float(row[column]))
            yield family
        latency = HistogramMetricFamily(
            "prospectpro_delivery_latency_seconds", "Delivery attempt latency",
            labels=["webhook_type"],
        )  # fmt: skip
        by_type: dict[str, list[tuple]] = {}
        for row in s["latency"]:
            by_type.setdefault(row[0], []).append(row)
        for webhook_type, rows in by_type.items():
            buckets = [(repr(float(le)), n) for _, le, n, _, _ in rows]
            buckets.append(("+Inf", rows[0][4]))
            latency.add_metric([webhook_type], buckets, float(rows[0][3] or 0))
        yield latency
        breaker_open = GaugeMetricFamily(
            "prospectpro_endpoint_breaker_open",
            "1 when the endpoint's circuit breaker is open or disabled (410 Gone)",
            labels=["webhook_type"],
        )
        failures = GaugeMetricFamily(
            "prospectpro_endpoint_consecutive_failures",
            "Failed attempts since the endpoint's last success",
            labels=["webhook_type"],
        )
        for webhook_type, state, count in s["breakers"]:
            breaker_open.add_metric([webhook_type], float(state != "closed"))
            failures.add_metric([webhook_type], count)
        yield breaker_open
        yield failures
        alerts = GaugeMetricFamily(
            "prospectpro_cost_alerts", "Cost alerts by type and status",
            labels=["alert_type", "status"],
        )  # fmt: skip
        for alert_type, status, count in s["alerts"]:
            alerts.add_metric([alert_type, status], count)
        yield alerts
        # Per campaign, labelled by id alone: a status change continues the
        # same series (the status is in prospectpro_campaigns, by status).
        info = GaugeMetricFamily(
            "prospectpro_campaign_info", "1 for each campaign running or recently finished",
            labels=["campaign_id", "name"],
        )  # fmt: skip
        for row in s["campaigns"]:
            info.add_metric([str(row[0]), row[1]], 1.0)
        yield info
        for column, name, help_text in [
            (2, "leads", "Leads in the campaign"),
            (3, "qualified_leads", "Qualified leads in the campaign"),
            (4, "cost_usd", "What the campaign's API calls cost"),
            (5, "completion_percent", "Share of the target through the pipeline"),
        ]:
            family = GaugeMetricFamily(
                f"prospectpro_campaign_{name}", help_text, labels=["campaign_id"]
            )
            for row in s["campaigns"]:
                family.add_metric([str(row[0])], float(row[column]))
            yield family
        statuses = GaugeMetricFamily(
            "prospectpro_campaigns", "Campaigns by status", labels=["status"]
        )
        for status, count in s["campaign_statuses"]:
            statuses.add_metric([status], count)
        yield statuses
