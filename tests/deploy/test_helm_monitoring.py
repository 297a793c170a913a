"""The chart's alerts (a PrometheusRule) and Grafana dashboard (a ConfigMap for the sidecar),
rendered offline with helm-python-sdk.

Given prometheusRule.enabled and dashboard.enabled, when the chart renders, then every PromQL
expression names only metrics the workers export (streams/metrics.py) or, in the dashboard
alone, planned ones (none at present), with label values the code really sets; and the series
they select are this release's.
"""

from __future__ import annotations

import json
import re
import typing
from typing import Any

import helm_python as helm
import pytest
from prometheus_client.metrics import MetricWrapperBase
from swerve.streams import events, metrics

from tests.deploy.test_helm_chart import CHART_DIR, one
from tests.deploy.test_helm_scaling import render

# Metrics another change will add; the dashboard may show them (no data until then, in panels whose
# title says "planned"), alerts may not. Name: Prometheus type.
PLANNED: dict[str, str] = {}
WATCHED = {"prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}


@pytest.fixture(scope="module")
def chart() -> Any:
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


def exposed(family: str, kind: str) -> set[str]:
    """The series names Prometheus scrapes for one metric family."""
    if kind == "counter":
        base = family.removesuffix("_total")
        return {f"{base}_total"}
    if kind == "histogram":
        return {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
    return {family}


def existing_series() -> set[str]:
    names: set[str] = set()
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            for family in collector.describe():
                names |= exposed(family.name, family.type)
    return names


EXISTING = existing_series()
PLANNED_SERIES = set().union(*(exposed(name, kind) for name, kind in PLANNED.items()))


def metric_names(expr: str) -> set[str]:
    """Every metric an expression selects: any name followed by a label selector, and every swerve_ name."""
    return set(re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{", expr)) | set(re.findall(r"\bswerve_[a-z0-9_]+", expr))


def matchers(expr: str, label: str) -> set[str]:
    """Values an expression compares ``label`` to (= or =~, alternatives split)."""
    found: set[str] = set()
    for value in re.findall(rf'\b{label}\s*=~?\s*"([^"]*)"', expr):
        found |= set(value.split("|"))
    return found


def rule_exprs(manifests: list[dict[str, Any]]) -> dict[str, str]:
    rule = one(manifests, "PrometheusRule", "rel-swerve")
    (group,) = rule["spec"]["groups"]
    return {r["alert"]: r["expr"] for r in group["rules"]}


def dashboard_of(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = one(manifests, "ConfigMap", "rel-swerve-dashboard")
    return json.loads(config_map["data"]["swerve.json"])


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(variable["query"]["query"])
    return exprs


def test_given_the_metrics_module_then_the_known_series_are_what_the_chart_expects() -> None:
    # A guard on the test itself: a renamed metric must fail here, not pass silently.
    assert {"swerve_events_total", "swerve_dlq_total", "swerve_outcomes_total", "swerve_consumer_lag",
            "swerve_stage_seconds_bucket", "swerve_correction_attempts_bucket", "swerve_detector_seconds_bucket",
            "swerve_detector_errors_total", "swerve_store_failures_total", "swerve_build_info"} <= EXISTING


def test_given_the_metrics_module_then_names_follow_prometheus_conventions() -> None:
    # (prometheus_client exposes every counter as <name>_total.) A duration is in _seconds, never
    # milliseconds; the one histogram without a unit counts attempts, and the info gauge ends _info.
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            for family in collector.describe():
                assert family.name.startswith("swerve_"), family.name
                assert "_ms" not in family.name and "millis" not in family.name, family.name
                if family.type == "histogram" and family.name != "swerve_correction_attempts":
                    assert family.name.endswith("_seconds"), f"{family.name}: a histogram of durations names its unit"
    assert {"swerve_build_info", "swerve_consumer_lag"} == {f.name for c in vars(metrics).values()
                                                          if isinstance(c, MetricWrapperBase) for f in c.describe() if f.type == "gauge"}


def test_given_defaults_then_neither_alerts_nor_dashboard_are_rendered(chart: Any) -> None:
    assert not [m for m in render(chart) if m["kind"] == "PrometheusRule" or m["metadata"]["name"] == "rel-swerve-dashboard"]


# -- alerts ----------------------------------------------------------------------------


def test_given_alerts_on_then_the_rule_covers_dlq_lag_blocks_internal_errors_and_stalls(chart: Any) -> None:
    manifests = render(chart, {"prometheusRule": {"enabled": True, "labels": {"release": "prom"}, "alertLabels": {"team": "moderation"}}})
    rule = one(manifests, "PrometheusRule", "rel-swerve")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "prom"
    exprs = rule_exprs(manifests)
    assert set(exprs) == {"SwerveDeadLetters", "SwerveConsumerLagGrowing", "SwerveHighBlockRate", "SwerveInternalErrors", "SwerveNoProgress"}
    assert "swerve_dlq_total" in metric_names(exprs["SwerveDeadLetters"])
    assert "swerve_consumer_lag" in metric_names(exprs["SwerveConsumerLagGrowing"])
    assert matchers(exprs["SwerveHighBlockRate"], "outcome") == {"blocked"}
    assert matchers(exprs["SwerveInternalErrors"], "reason_class") == {"internal", "infrastructure"}
    assert {"swerve_events_total", "swerve_consumer_lag"} <= metric_names(exprs["SwerveNoProgress"])
    (group,) = rule["spec"]["groups"]
    for alert in group["rules"]:
        assert alert["labels"]["team"] == "moderation" and alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"]


def test_given_alerts_then_they_name_only_metrics_and_label_values_the_workers_export(chart: Any) -> None:
    exprs = rule_exprs(render(chart, WATCHED))
    for alert, expr in exprs.items():
        assert metric_names(expr) <= EXISTING, f"{alert} names {metric_names(expr) - EXISTING}"
        assert matchers(expr, "outcome") <= set(typing.get_args(events.DeliveryOutcome)), alert
        assert matchers(expr, "reason_class") <= set(typing.get_args(events.ReasonClass)), alert


def test_given_the_default_selector_then_alerts_select_the_release_metrics_services(chart: Any) -> None:
    # prometheus-operator names a ServiceMonitor's job after the Service it scrapes.
    manifests = render(chart, {**WATCHED, "screen": {"enabled": True}})
    services = {m["metadata"]["name"] for m in manifests if m["kind"] == "Service"}
    for expr in rule_exprs(manifests).values():
        assert matchers(expr, "namespace") == {"moderation"}
        (job,) = re.findall(r'job=~"([^"]*)"', expr)[:1]
        assert {name for name in services if re.fullmatch(job, name)} == services


def test_given_a_selector_then_every_alert_uses_it(chart: Any) -> None:
    exprs = rule_exprs(render(chart, {"prometheusRule": {"enabled": True, "selector": 'cluster="eu-1",app="swerve"'}}))
    for expr in exprs.values():
        selections = re.findall(r"\bswerve_[a-z0-9_]+\{([^}]*)\}", expr)
        assert selections and len(selections) == len(re.findall(r"\bswerve_[a-z0-9_]+", expr))
        assert all(inside.startswith('cluster="eu-1",app="swerve"') for inside in selections), expr


def test_given_alert_values_then_thresholds_and_switches_are_honoured(chart: Any) -> None:
    exprs = rule_exprs(render(chart, {"prometheusRule": {
        "enabled": True, "blockRate": {"threshold": 0.35}, "lagGrowing": {"minLag": 5000}, "noProgress": {"enabled": False},
        "extraRules": [{"alert": "SwerveCustom", "expr": 'sum(rate(swerve_events_total{stage="detect"}[5m])) < 1'}]}}))
    assert "SwerveNoProgress" not in exprs and "SwerveCustom" in exprs
    assert exprs["SwerveHighBlockRate"].rstrip().endswith("> 0.35")
    assert "> 5000" in exprs["SwerveConsumerLagGrowing"]


# -- the dashboard ---------------------------------------------------------------------


def test_given_the_dashboard_file_then_it_parses_and_has_panels() -> None:
    dashboard = json.loads((CHART_DIR / "files" / "dashboards" / "swerve.json").read_text())
    assert dashboard["panels"] and dashboard["templating"]["list"]


def test_given_the_dashboard_on_then_a_sidecar_configmap_carries_it_with_the_release_uid(chart: Any) -> None:
    manifests = render(chart, {"dashboard": {"enabled": True, "annotations": {"grafana_folder": "Moderation"}}})
    config_map = one(manifests, "ConfigMap", "rel-swerve-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Moderation"}
    dashboard = dashboard_of(manifests)
    assert dashboard["title"] == "swerve (moderation/rel)"
    assert dashboard["uid"].startswith("swerve-") and len(dashboard["uid"]) <= 40
    other = chart.render({"kafka": {"bootstrap": "k:9092"}, "imageStore": {"uri": "s3://b/p"}, "dashboard": {"enabled": True}},
                         name="other", namespace="moderation", is_install=True)
    assert f'"uid":"{dashboard["uid"]}"' not in "".join(other.values())


def test_given_a_dashboard_namespace_uid_and_title_then_they_are_used(chart: Any) -> None:
    manifests = render(chart, {"dashboard": {"enabled": True, "namespace": "monitoring", "uid": "swerve-prod", "title": "swerve prod"}})
    config_map = one(manifests, "ConfigMap", "rel-swerve-dashboard")
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert (dashboard_of(manifests)["uid"], dashboard_of(manifests)["title"]) == ("swerve-prod", "swerve prod")


def test_given_the_dashboard_then_it_shows_latency_rates_corrections_lag_and_dlq(chart: Any) -> None:
    text = "\n".join(dashboard_exprs(dashboard_of(render(chart, WATCHED))))
    for series in ("swerve_stage_seconds_bucket", "swerve_events_total", "swerve_outcomes_total",
                   "swerve_correction_attempts_bucket", "swerve_consumer_lag", "swerve_dlq_total",
                   "swerve_detector_seconds_bucket", "swerve_detector_errors_total", "swerve_store_failures_total",
                   "swerve_build_info"):
        assert series in text
    assert "histogram_quantile(0.99" in text
    assert {"blocked", "replacement"} <= matchers(text, "outcome")
    assert {"correct", "review"} <= matchers(text, "outcome")  # the flag rate: detect decisions


def test_given_the_dashboard_then_it_names_only_known_or_planned_metrics_and_real_label_values(chart: Any) -> None:
    dashboard = dashboard_of(render(chart, WATCHED))
    outcomes = set(typing.get_args(events.DeliveryOutcome)) | set(typing.get_args(events.Decision))
    stages = set(typing.get_args(typing.get_type_hints(events.AuditEvent)["stage"]))
    for expr in dashboard_exprs(dashboard):
        assert metric_names(expr) <= EXISTING | PLANNED_SERIES, f"{expr} names {metric_names(expr) - EXISTING - PLANNED_SERIES}"
        assert matchers(expr, "outcome") <= outcomes, expr
        assert matchers(expr, "stage") <= stages, expr
        assert matchers(expr, "reason_class") <= set(typing.get_args(events.ReasonClass)), expr
    # Planned metrics appear only in panels that say so.
    for panel in dashboard["panels"]:
        planned = set().union(*(metric_names(t["expr"]) for t in panel.get("targets", []))) & PLANNED_SERIES
        if planned:
            assert "planned" in panel["title"], panel["title"]
