"""The chart's guards: values.schema.json, the shared image store the correct role needs, the
workers' NetworkPolicy and the metrics Services, rendered offline with helm-python-sdk.

Given values Helm's schema check or the templates must refuse, when the chart renders, then it
fails naming the value; given the defaults, then the workers reach only DNS, Kafka and the image
store, and only the monitoring peers reach their metrics port.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import helm_python as helm
import pytest
import yaml
from swerve.streams.settings import Settings

from tests.deploy.test_helm_chart import (
    BOOTSTRAP,
    CHART_DIR,
    STORE,
    container,
    env_of,
    one,
)
from tests.deploy.test_helm_scaling import render

SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((CHART_DIR / "values.yaml").read_text())


@pytest.fixture(scope="module")
def chart() -> Any:
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


# -- the schema ------------------------------------------------------------------------


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def value_paths(value: Any, schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Every key of ``value`` with the schema node that declares it (None when none does)."""
    node = resolve(schema)
    properties = node.get("properties")
    if not isinstance(value, dict) or (properties is None and "additionalProperties" not in node):
        return  # a scalar, or a Kubernetes object passed through as it is (a probe, affinity ...)
    for key, sub in value.items():
        declared = properties.get(key) if properties is not None else node.get("additionalProperties") or None
        yield f"{path}.{key}".lstrip("."), declared
        if declared is not None:
            yield from value_paths(sub, declared, f"{path}.{key}")


def test_given_the_schema_then_it_is_draft_07_and_closed_at_the_top() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert SCHEMA["additionalProperties"] is False


def test_given_values_yaml_then_the_schema_declares_every_value_in_it() -> None:
    undeclared = [path for path, declared in value_paths(DEFAULTS, SCHEMA) if declared is None]
    assert undeclared == []


def test_given_the_schema_then_every_block_of_swerve_values_refuses_unknown_keys() -> None:
    # Objects whose keys swerve defines are closed; only Kubernetes pass-through objects are open.
    open_blocks = []
    for path, declared in value_paths(DEFAULTS, SCHEMA):
        node = resolve(declared or {})
        if "properties" in node and node.get("additionalProperties") is not False:
            open_blocks.append(path)
    assert open_blocks == []


def test_given_the_default_values_then_they_pass_the_schema(chart: Any) -> None:
    chart.validate_schema({})
    chart.validate_schema({"kafka": {"bootstrap": BOOTSTRAP}, "imageStore": {"uri": STORE}})


@pytest.mark.parametrize(("values", "where"), [
    ({"detect": {"replicas": "2"}}, "/detect/replicas"),
    ({"detect": {"replicas": 0}}, "/detect/replicas"),
    ({"replicaCount": 3}, "additional properties 'replicaCount'"),
    ({"detect": {"replica": 3}}, "additional properties 'replica'"),
    ({"kafka": {"bootstrapServers": BOOTSTRAP}}, "additional properties 'bootstrapServers'"),
    ({"topics": {"partitions": -1}}, "/topics/partitions"),
    ({"topics": {"partitions": 0}}, "/topics/partitions"),
    ({"topics": {"partitions": 2.5}}, "/topics/partitions"),
    ({"kafka": {"securityProtocol": "SASL"}}, "/kafka/securityProtocol"),
    ({"metrics": {"service": {"type": "LoadBalancer"}}}, "/metrics/service/type"),
    ({"metrics": {"port": 70000}}, "/metrics/port"),
    ({"logFormat": "xml"}, "/logFormat"),
    ({"correct": {"gpu": {"count": -1}}}, "/correct/gpu/count"),
    ({"correct": {"keda": {"minReplicaCount": -1}}}, "/correct/keda/minReplicaCount"),
    ({"autoscaling": {"keda": {"enabled": "yes"}}}, "/autoscaling/keda/enabled"),
    ({"networkPolicy": {"kafka": {"ports": [0]}}}, "/networkPolicy/kafka/ports/0"),
    ({"prometheusRule": {"blockRate": {"threshold": 2}}}, "/prometheusRule/blockRate/threshold"),
    ({"prometheusRule": {"noProgress": {"for": "ten minutes"}}}, "/prometheusRule/noProgress/for"),
    ({"dashboard": {"uid": "x" * 41}}, "/dashboard/uid"),
    ({"worker": {"detectBatchWindowS": 0}}, "/worker/detectBatchWindowS"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"detect": {"nodeSelector": {"pool": 1}}}, "/detect/nodeSelector/pool"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_given_bad_values_when_rendered_then_the_schema_refuses_them_naming_the_value(chart: Any, values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=where):
        render(chart, values)


def test_given_bad_values_when_linted_then_lint_reports_an_error() -> None:
    report = helm.lint(CHART_DIR, {"kafka": {"bootstrap": BOOTSTRAP}, "topics": {"partitions": -1}}, strict=True)
    assert any("/topics/partitions" in error for error in report["errors"])


# -- the shared image store ------------------------------------------------------------


def test_given_the_correct_role_without_a_shared_store_when_rendered_then_it_fails_naming_both_values(chart: Any) -> None:
    with pytest.raises(helm.HelmError, match=r"imageStore\.uri or imageStore\.existingClaim is required while correct\.enabled=true"):
        chart.render({"kafka": {"bootstrap": BOOTSTRAP}}, name="rel", namespace="moderation", is_install=True)


def test_given_a_shared_claim_then_every_pod_mounts_it_and_uses_it_as_the_store(chart: Any) -> None:
    manifests = render(chart, {"imageStore": {"uri": "", "existingClaim": "swerve-images"}, "screen": {"enabled": True}})
    for role in ("screen", "detect", "correct"):
        pod = one(manifests, "Deployment", f"rel-swerve-{role}")["spec"]["template"]["spec"]
        assert env_of(pod["containers"][0])["SWERVE_IMAGE_STORE_URI"]["value"] == "file:///var/lib/swerve/images"
        assert next(v for v in pod["volumes"] if v["name"] == "image-store")["persistentVolumeClaim"] == {"claimName": "swerve-images"}


def test_given_no_correct_role_then_no_store_is_needed_and_detect_reads_inline_images_only(chart: Any) -> None:
    manifests = render(chart, {"imageStore": {"uri": ""}, "correct": {"enabled": False}})
    assert not [m for m in manifests if m["metadata"]["name"] == "rel-swerve-correct"]
    env = env_of(container(one(manifests, "Deployment", "rel-swerve-detect")))
    settings = Settings.from_env({name: item["value"] for name, item in env.items() if name.startswith("SWERVE_")})
    # The pod's own data emptyDir: detect never writes there, and references elsewhere are refused.
    assert settings.image_store_uri == "file:///var/lib/swerve/images"
    assert settings.media.allowed_uri_bases == ("file:///var/lib/swerve/images",)


def test_given_both_a_uri_and_a_claim_when_rendered_then_it_fails(chart: Any) -> None:
    with pytest.raises(helm.HelmError, match="set imageStore.uri or imageStore.existingClaim, not both"):
        render(chart, {"imageStore": {"uri": STORE, "existingClaim": "swerve-images"}})


# -- the NetworkPolicy -----------------------------------------------------------------


def policy(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return one(manifests, "NetworkPolicy", "rel-swerve-workers")["spec"]


def egress_ports(spec: dict[str, Any]) -> list[set[tuple[int, str]]]:
    return [{(port["port"], port["protocol"]) for port in rule["ports"]} for rule in spec["egress"]]


def test_given_defaults_then_a_network_policy_confines_the_worker_pods(chart: Any) -> None:
    manifests = render(chart)
    spec = policy(manifests)
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "swerve", "app.kubernetes.io/instance": "rel"}
    assert spec["podSelector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["screen", "detect", "correct"]}]
    # Ingress: the metrics port only, from the monitoring namespace only.
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"port": 9000, "protocol": "TCP"}]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    # Egress: DNS, the brokers' port from kafka.bootstrap, HTTPS to the s3:// store.
    assert egress_ports(spec) == [{(53, "UDP"), (53, "TCP")}, {(9092, "TCP")}, {(443, "TCP")}]
    # Every worker pod is selected; the topics hook Job is not.
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] in spec["podSelector"]["matchExpressions"][0]["values"]
    job_labels = one(manifests, "Job", "rel-swerve-topics")["spec"]["template"]["metadata"]["labels"]
    assert job_labels["app.kubernetes.io/component"] not in spec["podSelector"]["matchExpressions"][0]["values"]


def test_given_broker_ports_in_the_bootstrap_then_egress_allows_each_of_them(chart: Any) -> None:
    spec = policy(render(chart, {"kafka": {"bootstrap": "kafka-0:9093,kafka-1:9094,kafka-2:9093"}}))
    assert egress_ports(spec)[1] == {(9093, "TCP"), (9094, "TCP")}
    spec = policy(render(chart, {"networkPolicy": {"kafka": {"ports": [19092, 19093]}}}))
    assert egress_ports(spec)[1] == {(19092, "TCP"), (19093, "TCP")}


def test_given_peers_then_dns_kafka_and_store_egress_are_limited_to_them(chart: Any) -> None:
    brokers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kafka"}}}]
    dns = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    store = [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    spec = policy(render(chart, {"networkPolicy": {"dns": {"to": dns}, "kafka": {"to": brokers}, "imageStore": {"to": store, "ports": [9000]}}}))
    assert [rule.get("to") for rule in spec["egress"]] == [dns, brokers, store]
    assert egress_ports(spec)[2] == {(9000, "TCP")}


def test_given_a_pvc_store_then_no_object_store_egress_is_opened(chart: Any) -> None:
    # The kubelet mounts the volume; the pod itself opens no connection to it.
    spec = policy(render(chart, {"imageStore": {"uri": "", "existingClaim": "swerve-images"}}))
    assert egress_ports(spec) == [{(53, "UDP"), (53, "TCP")}, {(9092, "TCP")}]


def test_given_no_metrics_peers_then_nothing_may_connect_in(chart: Any) -> None:
    # An ingress rule with an empty `from` would admit everyone; no peers must mean no rule.
    assert policy(render(chart, {"networkPolicy": {"metrics": {"from": []}}}))["ingress"] == []


def test_given_extra_rules_then_they_are_appended(chart: Any) -> None:
    otel = {"to": [{"podSelector": {"matchLabels": {"app": "otel"}}}], "ports": [{"port": 4317}]}
    spec = policy(render(chart, {"networkPolicy": {"extraEgress": [otel], "extraIngress": [{"ports": [{"port": 6066}]}]}}))
    assert spec["egress"][-1] == otel
    assert spec["ingress"][-1] == {"ports": [{"port": 6066}]}


def test_given_the_network_policy_off_then_none_is_rendered(chart: Any) -> None:
    assert not [m for m in render(chart, {"networkPolicy": {"enabled": False}}) if m["kind"] == "NetworkPolicy"]


# -- the metrics Services --------------------------------------------------------------


def test_given_any_values_then_the_metrics_services_are_cluster_ip_and_carry_the_metrics_port_only(chart: Any) -> None:
    manifests = render(chart, {"screen": {"enabled": True}, "metrics": {"port": 9100}})
    services = [m for m in manifests if m["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == {f"rel-swerve-{role}-metrics" for role in ("screen", "detect", "correct")}
    for service in services:
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["ports"] == [{"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"}]
        assert "externalIPs" not in service["spec"] and "loadBalancerIP" not in service["spec"]
