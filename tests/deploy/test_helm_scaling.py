"""The chart's scaling: KEDA ScaledObjects on consumer-group lag, the CPU HPA fallback, the
screen Deployment and per-role GPU scheduling, rendered offline with helm-python-sdk.

Given autoscaling.keda.enabled, when the chart renders, then each role's ScaledObject reads
the lag of the consumer group its pods join (SWERVE_WORKER_APP_ID) on the topic its agent
consumes (streams/agents.py, named by streams/topics.py), never allows more pods than
partitions, and replaces that role's HPA.
"""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
import yaml
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from tests.deploy.test_helm_chart import (
    BOOTSTRAP,
    CHART_DIR,
    STORE,
    container,
    env_of,
    one,
)

KEDA_ON = {"autoscaling": {"keda": {"enabled": True}}}
# The topic each role's agent consumes (streams/agents.py).
INPUT = {"screen": "prompts", "detect": "generations", "correct": "flagged"}


@pytest.fixture(scope="module")
def chart() -> Any:
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


def render(chart: Any, *layers: dict[str, Any]) -> list[dict[str, Any]]:
    """Render bootstrap + store + ``layers`` (deep-merged, later wins) and parse every manifest."""
    merged: dict[str, Any] = {}
    for layer in ({"kafka": {"bootstrap": BOOTSTRAP}, "imageStore": {"uri": STORE}}, *layers):
        merged = deep_merge(merged, layer)
    files = chart.render(merged, name="rel", namespace="moderation", is_install=True)
    return [doc for path, text in files.items() if path.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def kinds(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def trigger(scaled_object: dict[str, Any]) -> dict[str, Any]:
    (only,) = scaled_object["spec"]["triggers"]
    assert only["type"] == "kafka"
    return only


# -- KEDA ------------------------------------------------------------------------------


def test_given_defaults_then_no_keda_object_is_rendered(chart: Any) -> None:
    manifests = render(chart)
    assert not [m for m in manifests if m["kind"] in ("ScaledObject", "TriggerAuthentication")]
    assert one(manifests, "Deployment", "rel-swerve-detect")["spec"]["replicas"] == 2


def test_given_keda_on_then_each_role_scales_on_its_groups_lag_on_its_input_topic(chart: Any) -> None:
    manifests = render(chart, KEDA_ON, {"screen": {"enabled": True}})
    scaled = kinds(manifests, "ScaledObject")
    assert set(scaled) == {"rel-swerve-screen", "rel-swerve-detect", "rel-swerve-correct"}
    topics = TopicNames("swerve")
    for role, short in INPUT.items():
        name = f"rel-swerve-{role}"
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        meta = trigger(scaled[name])["metadata"]
        # The group KEDA reads is the one the pods join, on the topic their agent consumes.
        deployment = one(manifests, "Deployment", name)
        assert meta["consumerGroup"] == env_of(container(deployment))["SWERVE_WORKER_APP_ID"]["value"] == f"swerve-{role}"
        assert meta["topic"] == topics.full(short)
        assert meta["bootstrapServers"] == BOOTSTRAP
        # faust's consumer_auto_offset_reset (streams/app.py): a new group reads from the start.
        assert meta["offsetResetPolicy"] == "earliest"
        assert meta["allowIdleConsumers"] == "false"
        assert meta["tls"] == "disable" and "sasl" not in meta
        assert "authenticationRef" not in trigger(scaled[name])
        # KEDA owns the replica count.
        assert "replicas" not in deployment["spec"]
    assert trigger(scaled["rel-swerve-detect"])["metadata"]["lagThreshold"] == "100"
    assert trigger(scaled["rel-swerve-correct"])["metadata"]["lagThreshold"] == "4"
    assert (scaled["rel-swerve-detect"]["spec"]["minReplicaCount"], scaled["rel-swerve-detect"]["spec"]["maxReplicaCount"]) == (1, 4)
    # correct may scale to zero by default (frees the GPUs while nothing is flagged).
    assert (scaled["rel-swerve-correct"]["spec"]["minReplicaCount"], scaled["rel-swerve-correct"]["spec"]["maxReplicaCount"]) == (0, 2)


def test_given_keda_values_then_thresholds_bounds_and_polling_are_rendered(chart: Any) -> None:
    manifests = render(chart, KEDA_ON, {
        "autoscaling": {"keda": {"pollingInterval": 15, "cooldownPeriod": 600,
                                 "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 900}}}}}},
        "topics": {"partitions": 12},
        "detect": {"keda": {"minReplicaCount": 3, "maxReplicaCount": 12, "lagThreshold": 250, "activationLagThreshold": 5}},
        "correct": {"keda": {"minReplicaCount": 1, "maxReplicaCount": 6}},
    })
    detect = one(manifests, "ScaledObject", "rel-swerve-detect")["spec"]
    assert (detect["minReplicaCount"], detect["maxReplicaCount"], detect["pollingInterval"], detect["cooldownPeriod"]) == (3, 12, 15, 600)
    assert detect["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 900
    meta = trigger(one(manifests, "ScaledObject", "rel-swerve-detect"))["metadata"]
    assert (meta["lagThreshold"], meta["activationLagThreshold"]) == ("250", "5")
    correct = one(manifests, "ScaledObject", "rel-swerve-correct")["spec"]
    assert (correct["minReplicaCount"], correct["maxReplicaCount"]) == (1, 6)


def test_given_a_topic_prefix_and_one_shared_group_then_keda_follows_them(chart: Any) -> None:
    manifests = render(chart, KEDA_ON, {"topicPrefix": "acme", "worker": {"appId": "acme", "consumerGroupPerRole": False}})
    for role in ("detect", "correct"):
        meta = trigger(one(manifests, "ScaledObject", f"rel-swerve-{role}"))["metadata"]
        assert meta["consumerGroup"] == "acme"
        assert meta["topic"] == TopicNames("acme").full(INPUT[role])


def test_given_bootstrap_entries_with_spaces_or_without_a_port_then_keda_gets_host_port_pairs(chart: Any) -> None:
    # swerve's client defaults a missing port to 9092; KEDA's client needs it written out.
    manifests = render(chart, KEDA_ON, {"kafka": {"bootstrap": "kafka-0:9093, kafka-1"}})
    assert trigger(one(manifests, "ScaledObject", "rel-swerve-detect"))["metadata"]["bootstrapServers"] == "kafka-0:9093,kafka-1:9092"


@pytest.mark.parametrize(("role", "values"), [
    ("detect", {"detect": {"keda": {"maxReplicaCount": 5}}}),
    ("correct", {"correct": {"keda": {"maxReplicaCount": 8}}, "topics": {"partitions": 6}}),
    ("screen", {"screen": {"enabled": True, "keda": {"maxReplicaCount": 5}}}),
], ids=["detect-5-of-4", "correct-8-of-6", "screen-5-of-4"])
def test_given_a_keda_max_above_the_partitions_when_rendered_then_it_fails_naming_both(chart: Any, role: str, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError, match=rf"{role}\.keda\.maxReplicaCount=\d+ is above topics\.partitions=\d+"):
        render(chart, KEDA_ON, values)


def test_given_a_keda_max_equal_to_the_partitions_then_it_renders(chart: Any) -> None:
    manifests = render(chart, KEDA_ON, {"topics": {"partitions": 8}, "detect": {"keda": {"maxReplicaCount": 8}}})
    assert one(manifests, "ScaledObject", "rel-swerve-detect")["spec"]["maxReplicaCount"] == 8


def test_given_a_max_above_the_partitions_for_a_role_keda_does_not_scale_then_it_renders(chart: Any) -> None:
    # The bound is KEDA's: with KEDA off (or the role opted out) the values are not used.
    render(chart, {"detect": {"keda": {"maxReplicaCount": 9}}})
    render(chart, KEDA_ON, {"detect": {"keda": {"enabled": False, "maxReplicaCount": 9}}})


def test_given_a_keda_min_above_its_max_when_rendered_then_it_fails(chart: Any) -> None:
    with pytest.raises(helm.HelmError, match=r"detect\.keda\.minReplicaCount=4 is above detect\.keda\.maxReplicaCount=3"):
        render(chart, KEDA_ON, {"detect": {"keda": {"minReplicaCount": 4, "maxReplicaCount": 3}}})


@pytest.mark.parametrize("role", ["detect", "screen"])
def test_given_scale_to_zero_for_a_role_other_than_correct_then_the_schema_refuses_it(chart: Any, role: str) -> None:
    with pytest.raises(helm.HelmError, match=rf"/{role}/keda/minReplicaCount"):
        render(chart, KEDA_ON, {role: {"keda": {"minReplicaCount": 0}}})


# -- the HPA is the fallback -----------------------------------------------------------


def test_given_the_cpu_hpa_and_keda_off_then_the_hpa_is_rendered(chart: Any) -> None:
    manifests = render(chart, {"detect": {"autoscaling": {"enabled": True}}, "screen": {"enabled": True, "autoscaling": {"enabled": True}}})
    assert set(kinds(manifests, "HorizontalPodAutoscaler")) == {"rel-swerve-detect", "rel-swerve-screen"}
    assert not kinds(manifests, "ScaledObject")


def test_given_the_cpu_hpa_and_keda_on_then_only_keda_scales_the_role(chart: Any) -> None:
    # Never both for one Deployment: KEDA makes its own HPA, and two would fight over replicas.
    manifests = render(chart, KEDA_ON, {"detect": {"autoscaling": {"enabled": True}}})
    assert not kinds(manifests, "HorizontalPodAutoscaler")
    assert "rel-swerve-detect" in kinds(manifests, "ScaledObject")


def test_given_a_role_opted_out_of_keda_then_its_hpa_stays_and_the_others_scale_on_lag(chart: Any) -> None:
    manifests = render(chart, KEDA_ON, {"detect": {"keda": {"enabled": False}, "autoscaling": {"enabled": True}}})
    assert set(kinds(manifests, "HorizontalPodAutoscaler")) == {"rel-swerve-detect"}
    assert set(kinds(manifests, "ScaledObject")) == {"rel-swerve-correct"}
    scaled_targets = {m["spec"]["scaleTargetRef"]["name"] for m in kinds(manifests, "ScaledObject").values()}
    hpa_targets = {m["spec"]["scaleTargetRef"]["name"] for m in kinds(manifests, "HorizontalPodAutoscaler").values()}
    assert not scaled_targets & hpa_targets


def test_given_a_disabled_role_then_it_gets_no_scaler(chart: Any) -> None:
    manifests = render(chart, KEDA_ON, {"correct": {"enabled": False}})
    assert set(kinds(manifests, "ScaledObject")) == {"rel-swerve-detect"}


# -- KEDA's credentials ----------------------------------------------------------------


def test_given_sasl_and_a_tls_secret_then_keda_authenticates_with_the_workers_secrets(chart: Any) -> None:
    manifests = render(chart, KEDA_ON, {"kafka": {
        "securityProtocol": "SASL_SSL", "saslMechanism": "SCRAM-SHA-512",
        "sasl": {"existingSecret": "kafka-user", "usernameKey": "user", "passwordKey": "pass"},
        "tls": {"existingSecret": "kafka-tls", "caKey": "ca.crt", "certKey": "tls.crt", "keyKey": "tls.key"}}})
    auth = one(manifests, "TriggerAuthentication", "rel-swerve-kafka")
    refs = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    assert refs == {"username": ("kafka-user", "user"), "password": ("kafka-user", "pass"),
                    "ca": ("kafka-tls", "ca.crt"), "cert": ("kafka-tls", "tls.crt"), "key": ("kafka-tls", "tls.key")}
    # The same Secrets the worker pods read.
    env = env_of(container(one(manifests, "Deployment", "rel-swerve-detect")))
    assert env["SWERVE_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "kafka-user", "key": "pass"}
    for role in ("detect", "correct"):
        found = trigger(one(manifests, "ScaledObject", f"rel-swerve-{role}"))
        assert found["authenticationRef"] == {"name": "rel-swerve-kafka"}
        assert (found["metadata"]["sasl"], found["metadata"]["tls"]) == ("scram_sha512", "enable")


@pytest.mark.parametrize(("mechanism", "keda"), [("PLAIN", "plaintext"), ("SCRAM-SHA-256", "scram_sha256")])
def test_given_sasl_plaintext_then_keda_gets_the_mechanism_without_tls_files(chart: Any, mechanism: str, keda: str) -> None:
    manifests = render(chart, KEDA_ON, {"kafka": {"securityProtocol": "SASL_PLAINTEXT", "saslMechanism": mechanism,
                                                  "sasl": {"existingSecret": "kafka-user"}}})
    refs = {ref["parameter"] for ref in one(manifests, "TriggerAuthentication", "rel-swerve-kafka")["spec"]["secretTargetRef"]}
    assert refs == {"username", "password"}
    meta = trigger(one(manifests, "ScaledObject", "rel-swerve-detect"))["metadata"]
    assert (meta["sasl"], meta["tls"]) == (keda, "disable")


def test_given_a_client_cert_with_the_key_inside_then_keda_reads_both_from_the_cert_file(chart: Any) -> None:
    # An empty keyKey means the key is in the cert file; KEDA wants a key, and finds it in that PEM.
    manifests = render(chart, KEDA_ON, {"kafka": {"securityProtocol": "SSL",
                                                  "tls": {"existingSecret": "kafka-tls", "caKey": "", "certKey": "client.pem"}}})
    refs = {ref["parameter"]: ref["key"] for ref in one(manifests, "TriggerAuthentication", "rel-swerve-kafka")["spec"]["secretTargetRef"]}
    assert refs == {"cert": "client.pem", "key": "client.pem"}


def test_given_tls_against_the_system_cas_then_no_trigger_authentication_is_needed(chart: Any) -> None:
    manifests = render(chart, KEDA_ON, {"kafka": {"securityProtocol": "SSL"}})
    assert not kinds(manifests, "TriggerAuthentication")
    found = trigger(one(manifests, "ScaledObject", "rel-swerve-detect"))
    assert found["metadata"]["tls"] == "enable" and "authenticationRef" not in found


def test_given_sasl_without_keda_then_no_trigger_authentication_is_rendered(chart: Any) -> None:
    manifests = render(chart, {"kafka": {"securityProtocol": "SASL_SSL", "saslMechanism": "PLAIN", "sasl": {"existingSecret": "kafka-user"}}})
    assert not kinds(manifests, "TriggerAuthentication")


# -- the screen role -------------------------------------------------------------------


def test_given_defaults_then_no_screen_role_runs(chart: Any) -> None:
    assert not [m for m in render(chart) if m["metadata"]["labels"].get("app.kubernetes.io/component") == "screen"]


def test_given_the_screen_role_then_it_runs_swerve_worker_role_screen_like_detect(chart: Any) -> None:
    manifests = render(chart, {"screen": {"enabled": True, "replicas": 3, "pdb": {"enabled": True},
                                          "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}},
                               "metrics": {"serviceMonitor": {"enabled": True}}})
    deployment = one(manifests, "Deployment", "rel-swerve-screen")
    spec = container(deployment)
    assert spec["args"] == ["worker", "--role", "screen", "--metrics-port", "9000", "--policy", "/etc/swerve/policy.yaml",
                            "--loglevel", "info", "--log-format", "json"]
    assert deployment["spec"]["replicas"] == 3
    assert spec["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    assert "nvidia.com/gpu" not in spec["resources"].get("limits", {})
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "screen"
    environ = {name: item["value"] for name, item in env_of(spec).items() if name.startswith("SWERVE_")}
    assert Settings.from_env(environ).worker.app_id == "swerve-screen"
    service = one(manifests, "Service", "rel-swerve-screen-metrics")
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "screen"
    assert one(manifests, "PodDisruptionBudget", "rel-swerve-screen")["spec"]["minAvailable"] == 1
    monitor = one(manifests, "ServiceMonitor", "rel-swerve")
    assert "screen" in monitor["spec"]["selector"]["matchExpressions"][0]["values"]


# -- GPU scheduling --------------------------------------------------------------------


def test_given_a_gpu_count_of_0_for_correct_then_it_gets_no_gpu(chart: Any) -> None:
    correct = container(one(render(chart, {"correct": {"gpu": {"count": 0}}}), "Deployment", "rel-swerve-correct"))
    assert "nvidia.com/gpu" not in correct["resources"].get("limits", {})
    disabled = container(one(render(chart, {"correct": {"gpu": {"enabled": False}}}), "Deployment", "rel-swerve-correct"))
    assert "nvidia.com/gpu" not in disabled["resources"].get("limits", {})


@pytest.mark.parametrize("role", ["detect", "screen"])
def test_given_a_gpu_and_node_pool_for_another_role_then_they_land_on_that_role_only(chart: Any, role: str) -> None:
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu-small"]}]}]}}}
    manifests = render(chart, {"screen": {"enabled": True}}, {role: {
        "gpu": {"count": 1, "resourceName": "amd.com/gpu"}, "nodeSelector": {"pool": "gpu-small"},
        "tolerations": [toleration], "affinity": affinity, "runtimeClassName": "nvidia"}})
    pod = one(manifests, "Deployment", f"rel-swerve-{role}")["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["amd.com/gpu"] == 1
    assert (pod["nodeSelector"], pod["tolerations"], pod["affinity"], pod["runtimeClassName"]) == (
        {"pool": "gpu-small"}, [toleration], affinity, "nvidia")
    other = "screen" if role == "detect" else "detect"
    other_pod = one(manifests, "Deployment", f"rel-swerve-{other}")["spec"]["template"]["spec"]
    assert "amd.com/gpu" not in other_pod["containers"][0]["resources"].get("limits", {})
    assert not {"nodeSelector", "tolerations", "affinity", "runtimeClassName"} & set(other_pod)


# -- lint ------------------------------------------------------------------------------


SCALED_AND_WATCHED = {
    "kafka": {"bootstrap": BOOTSTRAP, "securityProtocol": "SASL_SSL", "saslMechanism": "SCRAM-SHA-256",
              "sasl": {"existingSecret": "kafka-user"}, "tls": {"existingSecret": "kafka-tls"}},
    "imageStore": {"uri": STORE},
    "topics": {"partitions": 8},
    "autoscaling": {"keda": {"enabled": True}},
    "screen": {"enabled": True, "gpu": {"count": 1}},
    "detect": {"keda": {"maxReplicaCount": 8}, "autoscaling": {"enabled": True}},
    "correct": {"keda": {"maxReplicaCount": 4}, "affinity": {"podAntiAffinity": {}}},
    "metrics": {"serviceMonitor": {"enabled": True}},
    "prometheusRule": {"enabled": True, "labels": {"release": "prom"}},
    "dashboard": {"enabled": True, "annotations": {"grafana_folder": "Moderation"}},
}


@pytest.mark.parametrize("kube_version", [None, "v1.23.0"])
def test_given_keda_screen_alerts_and_dashboard_on_when_linted_strictly_then_it_is_clean(kube_version: str | None) -> None:
    report = helm.lint(CHART_DIR, SCALED_AND_WATCHED, strict=True, kube_version=kube_version)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
