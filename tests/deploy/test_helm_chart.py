"""The Helm chart in deploy/helm/swerve, linted and rendered offline with helm-python-sdk
(the official Helm Go library through ctypes: no helm binary, no cluster).

Given values, when the chart renders, then the manifests run `swerve worker` the way
cli/main.py and streams/settings.py expect: every SWERVE_* variable it sets is accepted
by ``Settings.from_env``, and the policy it mounts is accepted by ``parse_policy``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from swerve.streams.metrics import serve_metrics
from swerve.streams.policy import parse_policy
from swerve.streams.settings import Settings

CHART_DIR = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "swerve"
BOOTSTRAP = "kafka-0.kafka:9092,kafka-1.kafka:9092"
# The correct role needs a store every pod can read; rendering fails without one.
STORE = "s3://swerve-test/images"
ERROR = 3  # lint severity: 1 info, 2 warning, 3 error


@pytest.fixture(scope="module")
def chart() -> Any:
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


def render(chart: Any, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Render with ``values`` and parse every manifest. kafka.bootstrap is filled in unless given,
    and imageStore is ``{"uri": STORE}`` unless given (then the given block replaces it whole)."""
    merged: dict[str, Any] = {"kafka": {"bootstrap": BOOTSTRAP}, "imageStore": {"uri": STORE}}
    for key, value in (values or {}).items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) and key == "kafka" else value
    files = chart.render(merged, name="rel", namespace="moderation", is_install=True)
    manifests = []
    for path, text in files.items():
        if path.endswith(".yaml"):
            manifests += [doc for doc in yaml.safe_load_all(text) if doc]
    return manifests


def one(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, got {[(m['kind'], m['metadata']['name']) for m in manifests]}"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in spec["env"]}


# -- lint ------------------------------------------------------------------------------


# Both audit keys from existing objects (the signing key under a non-default key name).
AUDIT_KEYS = {"audit": {"signingKey": {"existingSecret": "swerve-audit-key", "key": "signing.key"},
                        "trustedKeys": {"existingSecret": "swerve-audit-trusted"}}}


EVERYTHING_ON = {
    "kafka": {"bootstrap": BOOTSTRAP, "securityProtocol": "SASL_SSL", "saslMechanism": "SCRAM-SHA-256",
              "sasl": {"existingSecret": "kafka-user"},
              "tls": {"existingSecret": "kafka-tls", "certKey": "tls.crt", "keyKey": "tls.key"}},
    "models": {"existingClaim": "swerve-weights"},
    "imageStore": {"existingClaim": "swerve-images"},
    "metrics": {"serviceMonitor": {"enabled": True}},
    "detect": {"autoscaling": {"enabled": True}, "pdb": {"enabled": True}},
    "correct": {"pdb": {"enabled": True}, "runtimeClassName": "nvidia", "nodeSelector": {"pool": "gpu"}},
    "worker": {"webPort": 6066, "exactlyOnce": True, "tenant": "acme", "appId": "acme", "idClaims": False,
               "idClaimsRetentionH": 12, "idClaimsFetchWaitMs": 50},
    "topicPrefix": "acme",
    "audit": {"signingKey": {"existingSecret": "swerve-audit-key"}, "trustedKeys": {"existingConfigMap": "swerve-audit-trusted"}},
}


@pytest.mark.parametrize("values", [{"kafka": {"bootstrap": BOOTSTRAP}}, EVERYTHING_ON], ids=["minimal", "everything-on"])
@pytest.mark.parametrize("kube_version", [None, "v1.23.0"])
def test_given_the_chart_when_linted_strictly_then_it_has_no_warnings_or_errors(values: dict[str, Any], kube_version: str | None) -> None:
    report = helm.lint(CHART_DIR, values, strict=True, kube_version=kube_version)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_given_the_default_values_when_linted_strictly_then_lint_passes() -> None:
    # Helm's lint mode turns `required` into a logged warning, so the defaults lint clean too;
    # the render test below proves an install without a bootstrap fails.
    report = helm.lint(CHART_DIR, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] == ERROR] == []


def test_given_chart_metadata_then_it_is_api_v2_with_app_version_0_1_0(chart: Any) -> None:
    assert chart.metadata["apiVersion"] == "v2"
    assert chart.metadata["appVersion"] == "0.1.0"


# -- default render --------------------------------------------------------------------


def test_given_a_bootstrap_when_rendered_then_both_roles_run_swerve_worker(chart: Any) -> None:
    manifests = render(chart)
    for role in ("detect", "correct"):
        deployment = one(manifests, "Deployment", f"rel-swerve-{role}")
        spec = container(deployment)
        assert spec["command"] == ["swerve"]
        assert spec["args"] == ["worker", "--role", role, "--metrics-port", "9000", "--policy", "/etc/swerve/policy.yaml",
                                "--loglevel", "info", "--log-format", "json"]
        assert env_of(spec)["SWERVE_KAFKA_BOOTSTRAP"]["value"] == BOOTSTRAP
        assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == role


def test_given_a_bootstrap_when_rendered_then_only_the_correct_role_gets_a_gpu(chart: Any) -> None:
    manifests = render(chart)
    correct = container(one(manifests, "Deployment", "rel-swerve-correct"))
    detect = container(one(manifests, "Deployment", "rel-swerve-detect"))
    assert correct["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in detect["resources"].get("limits", {})
    assert "nvidia.com/gpu" not in detect["resources"].get("requests", {})


def test_given_gpu_node_pool_values_then_they_land_on_the_correct_deployment_only(chart: Any) -> None:
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    manifests = render(chart, {"correct": {"nodeSelector": {"pool": "gpu"}, "tolerations": [toleration],
                                           "runtimeClassName": "nvidia", "gpu": {"count": 2}}})
    correct = one(manifests, "Deployment", "rel-swerve-correct")["spec"]["template"]["spec"]
    detect = one(manifests, "Deployment", "rel-swerve-detect")["spec"]["template"]["spec"]
    assert correct["nodeSelector"] == {"pool": "gpu"}
    assert correct["tolerations"] == [toleration]
    assert correct["runtimeClassName"] == "nvidia"
    assert correct["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert "nodeSelector" not in detect and "tolerations" not in detect and "runtimeClassName" not in detect


def test_given_a_bootstrap_when_rendered_then_the_policy_configmap_holds_a_valid_pass_everything_policy(chart: Any) -> None:
    manifests = render(chart)
    config_map = one(manifests, "ConfigMap", "rel-swerve-policy")
    policy = parse_policy(config_map["data"]["policy.yaml"], source="chart default policy")
    assert policy.detectors == [] and policy.version == "pass-everything"
    for role in ("detect", "correct"):
        pod = one(manifests, "Deployment", f"rel-swerve-{role}")["spec"]["template"]["spec"]
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "policy")
        assert (mount["mountPath"], mount["subPath"], mount["readOnly"]) == ("/etc/swerve/policy.yaml", "policy.yaml", True)
        volume = next(v for v in pod["volumes"] if v["name"] == "policy")
        assert volume["configMap"]["name"] == "rel-swerve-policy"


def test_given_a_custom_policy_then_it_is_mounted_verbatim_and_the_pods_roll(chart: Any) -> None:
    text = (
        'version: "2026-11-22"\n'
        "on_detector_error: block\n"
        "detectors:\n"
        "  - {name: takedowns, kind: hash_blocklist, params: {path: /models/takedowns.txt}, on_flag: correct, corrector: mirror}\n"
        "correctors:\n"
        "  - {name: mirror, kind: testing.mirror}\n"
    )
    default = render(chart)
    custom = render(chart, {"policy": text})
    mounted = one(custom, "ConfigMap", "rel-swerve-policy")["data"]["policy.yaml"]
    assert mounted == text
    assert [d.name for d in parse_policy(mounted).detectors] == ["takedowns"]

    def checksum(manifests: list[dict[str, Any]]) -> str:
        return one(manifests, "Deployment", "rel-swerve-detect")["spec"]["template"]["metadata"]["annotations"]["checksum/policy"]

    assert checksum(default) != checksum(custom)


def test_given_a_bootstrap_when_rendered_then_a_pre_install_hook_job_creates_the_topics(chart: Any) -> None:
    manifests = render(chart, {"topics": {"partitions": 12, "replicationFactor": 3}})
    job = one(manifests, "Job", "rel-swerve-topics")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    spec = job["spec"]["template"]["spec"]["containers"][0]
    assert [spec["command"][0], *spec["args"]] == ["swerve", "topics", "create"]
    env = env_of(spec)
    assert env["SWERVE_WORKER_TOPIC_PARTITIONS"]["value"] == "12"
    assert env["SWERVE_WORKER_REPLICATION_FACTOR"]["value"] == "3"
    assert env["SWERVE_KAFKA_BOOTSTRAP"]["value"] == BOOTSTRAP


def test_given_rendered_env_then_settings_from_env_accepts_every_swerve_variable(chart: Any) -> None:
    # Large numbers must not render in float notation, and every name must be one settings.py reads.
    values = {"media": {"maxBytes": 67108864, "maxPixels": 100000000},
              "worker": {"webPort": 6066, "exactlyOnce": True, "tenant": "acme", "idClaims": False,
                         "idClaimsRetentionH": 0.5, "idClaimsFetchWaitMs": 5000},
              "imageStore": {"uri": "memory://swerve-test"}, "kafka": {"clientId": "swerve-prod"}, **AUDIT_KEYS}
    for manifest in render(chart, values):
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        spec = manifest["spec"]["template"]["spec"]["containers"][0]
        environ = {name: item["value"] for name, item in env_of(spec).items() if name.startswith("SWERVE_")}
        settings = Settings.from_env(environ)
        assert settings.kafka.bootstrap == BOOTSTRAP
        assert settings.kafka.client_id == "swerve-prod"
        assert settings.media.max_bytes == 67108864 and settings.media.max_pixels == 100000000
        assert settings.worker.web_port == 6066 and settings.worker.exactly_once is True
        assert settings.worker.tenant == "acme" and settings.worker.id_claims is False
        assert settings.worker.id_claims_retention_h == 0.5 and settings.worker.id_claims_fetch_wait_ms == 5000
        if manifest["kind"] == "Deployment":
            assert str(settings.audit.signing_key_path) == "/etc/swerve/audit-key/signing.key"
            assert str(settings.audit.trusted_keys_dir) == "/etc/swerve/audit-trusted-keys"
        assert settings.image_store_uri == "memory://swerve-test"
        assert str(settings.data_dir) == "/var/lib/swerve"


def test_given_per_role_consumer_groups_then_each_role_has_its_own_app_id(chart: Any) -> None:
    split = render(chart)
    shared = render(chart, {"worker": {"consumerGroupPerRole": False}})
    for role in ("detect", "correct"):
        name = f"rel-swerve-{role}"
        assert env_of(container(one(split, "Deployment", name)))["SWERVE_WORKER_APP_ID"]["value"] == f"swerve-{role}"
        assert env_of(container(one(shared, "Deployment", name)))["SWERVE_WORKER_APP_ID"]["value"] == "swerve"


# -- required values -------------------------------------------------------------------


def test_given_no_bootstrap_when_rendered_then_it_fails_naming_kafka_bootstrap(chart: Any) -> None:
    with pytest.raises(helm.HelmError, match="kafka.bootstrap is required"):
        chart.render({}, name="rel", namespace="moderation", is_install=True)


def test_given_sasl_without_a_secret_when_rendered_then_it_fails_naming_the_secret_value(chart: Any) -> None:
    with pytest.raises(helm.HelmError, match="kafka.sasl.existingSecret is required"):
        render(chart, {"kafka": {"securityProtocol": "SASL_SSL", "saslMechanism": "PLAIN"}})


def test_given_sasl_without_a_supported_mechanism_when_rendered_then_it_fails(chart: Any) -> None:
    with pytest.raises(helm.HelmError, match="kafka.saslMechanism must be one of"):
        render(chart, {"kafka": {"securityProtocol": "SASL_SSL", "saslMechanism": "GSSAPI",
                                 "sasl": {"existingSecret": "kafka-user"}}})


# -- SASL and TLS ----------------------------------------------------------------------


def test_given_sasl_values_then_credentials_come_from_the_existing_secret(chart: Any) -> None:
    values = {"kafka": {"securityProtocol": "SASL_SSL", "saslMechanism": "SCRAM-SHA-512",
                        "sasl": {"existingSecret": "kafka-user", "usernameKey": "user", "passwordKey": "pass"}}}
    for manifest in render(chart, values):
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        env = env_of(manifest["spec"]["template"]["spec"]["containers"][0])
        assert env["SWERVE_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert env["SWERVE_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
        assert env["SWERVE_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"] == {"name": "kafka-user", "key": "user"}
        assert env["SWERVE_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "kafka-user", "key": "pass"}
        assert "value" not in env["SWERVE_KAFKA_SASL_PASSWORD"]


def test_given_plaintext_then_no_sasl_or_tls_settings_are_rendered(chart: Any) -> None:
    env = env_of(container(one(render(chart), "Deployment", "rel-swerve-detect")))
    assert not [name for name in env if name.startswith(("SWERVE_KAFKA_SASL_", "SWERVE_KAFKA_SSL_"))]


def test_given_a_tls_secret_then_its_files_are_mounted_and_named_in_the_env(chart: Any) -> None:
    values = {"kafka": {"securityProtocol": "SSL",
                        "tls": {"existingSecret": "kafka-tls", "caKey": "ca.crt", "certKey": "tls.crt", "keyKey": "tls.key"}}}
    for manifest in render(chart, values):
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        pod = manifest["spec"]["template"]["spec"]
        env = env_of(pod["containers"][0])
        assert env["SWERVE_KAFKA_SSL_CAFILE"]["value"] == "/etc/swerve/kafka-tls/ca.crt"
        assert env["SWERVE_KAFKA_SSL_CERTFILE"]["value"] == "/etc/swerve/kafka-tls/tls.crt"
        assert env["SWERVE_KAFKA_SSL_KEYFILE"]["value"] == "/etc/swerve/kafka-tls/tls.key"
        assert {"name": "kafka-tls", "mountPath": "/etc/swerve/kafka-tls", "readOnly": True} in pod["containers"][0]["volumeMounts"]
        assert next(v for v in pod["volumes"] if v["name"] == "kafka-tls")["secret"]["secretName"] == "kafka-tls"


# -- audit keys, tenant, id claims ----------------------------------------------------


def workers(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [m for m in manifests if m["kind"] == "Deployment"]
    assert {m["metadata"]["name"] for m in found} == {"rel-swerve-detect", "rel-swerve-correct"}
    return found


def test_given_an_audit_signing_key_secret_then_workers_mount_it_read_only_and_get_its_path(chart: Any) -> None:
    for deployment in workers(render(chart, AUDIT_KEYS)):
        pod = deployment["spec"]["template"]["spec"]
        spec = pod["containers"][0]
        assert env_of(spec)["SWERVE_AUDIT_SIGNING_KEY_PATH"]["value"] == "/etc/swerve/audit-key/signing.key"
        assert {"name": "audit-signing-key", "mountPath": "/etc/swerve/audit-key", "readOnly": True} in spec["volumeMounts"]
        volume = next(v for v in pod["volumes"] if v["name"] == "audit-signing-key")
        # Only the private key's own file is projected, readable by its owner alone.
        assert volume["secret"] == {"secretName": "swerve-audit-key", "defaultMode": 0o400,
                                    "items": [{"key": "signing.key", "path": "signing.key"}]}


def test_given_the_default_signing_key_name_then_the_path_names_audit_key(chart: Any) -> None:
    manifests = render(chart, {"audit": {"signingKey": {"existingSecret": "swerve-audit-key"}}})
    env = env_of(container(one(manifests, "Deployment", "rel-swerve-correct")))
    assert env["SWERVE_AUDIT_SIGNING_KEY_PATH"]["value"] == "/etc/swerve/audit-key/audit.key"
    assert "SWERVE_AUDIT_TRUSTED_KEYS_DIR" not in env


@pytest.mark.parametrize("source", ["existingSecret", "existingConfigMap"])
def test_given_trusted_keys_then_workers_mount_them_as_the_trusted_keys_dir(chart: Any, source: str) -> None:
    manifests = render(chart, {"audit": {"trustedKeys": {source: "swerve-audit-trusted"}}})
    for deployment in workers(manifests):
        pod = deployment["spec"]["template"]["spec"]
        spec = pod["containers"][0]
        env = env_of(spec)
        assert env["SWERVE_AUDIT_TRUSTED_KEYS_DIR"]["value"] == "/etc/swerve/audit-trusted-keys"
        assert "SWERVE_AUDIT_SIGNING_KEY_PATH" not in env
        assert {"name": "audit-trusted-keys", "mountPath": "/etc/swerve/audit-trusted-keys", "readOnly": True} in spec["volumeMounts"]
        volume = next(v for v in pod["volumes"] if v["name"] == "audit-trusted-keys")
        expected = {"secret": {"secretName": "swerve-audit-trusted"}} if source == "existingSecret" else {
            "configMap": {"name": "swerve-audit-trusted"}}
        assert volume == {"name": "audit-trusted-keys", **expected}
        assert not [v for v in pod["volumes"] if v["name"] == "audit-signing-key"]


def test_given_defaults_then_no_audit_key_is_mounted_and_no_audit_variable_is_set(chart: Any) -> None:
    for manifest in render(chart):
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        pod = manifest["spec"]["template"]["spec"]
        spec = pod["containers"][0]
        assert not [name for name in env_of(spec) if name.startswith("SWERVE_AUDIT_")]
        assert not [m for m in spec["volumeMounts"] if m["name"].startswith("audit-")]
        assert not [v for v in pod["volumes"] if v["name"].startswith("audit-")]


def test_given_audit_keys_then_the_topics_job_gets_neither_the_keys_nor_their_variables(chart: Any) -> None:
    # `swerve topics create` neither signs nor verifies: the private key stays out of the hook pod.
    pod = one(render(chart, AUDIT_KEYS), "Job", "rel-swerve-topics")["spec"]["template"]["spec"]
    assert not [name for name in env_of(pod["containers"][0]) if name.startswith("SWERVE_AUDIT_")]
    assert not [v for v in pod["volumes"] if v["name"].startswith("audit-")]


def test_given_a_signing_key_secret_without_a_key_when_rendered_then_it_fails_naming_the_key_value(chart: Any) -> None:
    with pytest.raises(helm.HelmError, match=r"audit\.signingKey\.key must not be empty with audit\.signingKey\.existingSecret=swerve-audit-key"):
        render(chart, {"audit": {"signingKey": {"existingSecret": "swerve-audit-key", "key": ""}}})


def test_given_trusted_keys_from_both_a_secret_and_a_configmap_when_rendered_then_it_fails(chart: Any) -> None:
    with pytest.raises(helm.HelmError, match="set audit.trustedKeys.existingSecret or audit.trustedKeys.existingConfigMap, not both"):
        render(chart, {"audit": {"trustedKeys": {"existingSecret": "a", "existingConfigMap": "b"}}})


def test_given_a_tenant_then_every_pod_is_pinned_to_it_and_by_default_none_is(chart: Any) -> None:
    pinned = render(chart, {"worker": {"tenant": "acme", "appId": "acme"}, "topicPrefix": "acme"})
    for manifest in pinned:
        if manifest["kind"] in ("Deployment", "Job"):
            env = env_of(manifest["spec"]["template"]["spec"]["containers"][0])
            assert env["SWERVE_WORKER_TENANT"]["value"] == "acme"
            assert env["SWERVE_TOPIC_PREFIX"]["value"] == "acme"
    assert env_of(container(one(pinned, "Deployment", "rel-swerve-detect")))["SWERVE_WORKER_APP_ID"]["value"] == "acme-detect"
    for manifest in render(chart):
        if manifest["kind"] in ("Deployment", "Job"):
            assert "SWERVE_WORKER_TENANT" not in env_of(manifest["spec"]["template"]["spec"]["containers"][0])


@pytest.mark.parametrize("tenant", ["a/b", "..", "-x y", "x" * 65])
def test_given_a_tenant_that_is_not_a_safe_name_when_rendered_then_it_fails_naming_worker_tenant(chart: Any, tenant: str) -> None:
    with pytest.raises(helm.HelmError, match="worker.tenant must be a safe name"):
        render(chart, {"worker": {"tenant": tenant}})


def test_given_a_pinned_tenant_on_the_default_topic_prefix_then_the_install_notes_warn(chart: Any) -> None:
    def notes(values: dict[str, Any]) -> str:
        merged = {"kafka": {"bootstrap": BOOTSTRAP}, "imageStore": {"uri": STORE}, **values}
        files = chart.render(merged, name="rel", namespace="moderation", is_install=True)
        return next(text for path, text in files.items() if path.endswith("NOTES.txt"))

    assert 'pinned to tenant "acme" but use the default' in notes({"worker": {"tenant": "acme"}})
    assert "pinned to tenant" not in notes({"worker": {"tenant": "acme", "appId": "acme"}, "topicPrefix": "acme"})
    assert "audit events are published unsigned" in notes({})
    assert "audit events are published unsigned" not in notes({"audit": {"signingKey": {"existingSecret": "k"}}})


def test_given_defaults_then_id_claims_match_the_code_defaults(chart: Any) -> None:
    defaults = Settings.from_env({}).worker
    for manifest in render(chart):
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        env = env_of(manifest["spec"]["template"]["spec"]["containers"][0])
        assert env["SWERVE_WORKER_ID_CLAIMS"]["value"] == "true"
        assert env["SWERVE_WORKER_ID_CLAIMS_RETENTION_H"]["value"] == "6"
        assert env["SWERVE_WORKER_ID_CLAIMS_FETCH_WAIT_MS"]["value"] == "10"
        worker = Settings.from_env({name: item["value"] for name, item in env.items() if name.startswith("SWERVE_")}).worker
        assert (worker.id_claims, worker.id_claims_retention_h, worker.id_claims_fetch_wait_ms) == (
            defaults.id_claims, defaults.id_claims_retention_h, defaults.id_claims_fetch_wait_ms)


def test_given_id_claim_values_then_workers_and_the_topics_job_get_them(chart: Any) -> None:
    # The Job needs the retention too: it is the claims topic's retention.ms when the Job creates it.
    values = {"worker": {"idClaims": False, "idClaimsRetentionH": 1.5, "idClaimsFetchWaitMs": 250}}
    for manifest in render(chart, values):
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        env = env_of(manifest["spec"]["template"]["spec"]["containers"][0])
        assert env["SWERVE_WORKER_ID_CLAIMS"]["value"] == "false"
        assert env["SWERVE_WORKER_ID_CLAIMS_RETENTION_H"]["value"] == "1.5"
        assert env["SWERVE_WORKER_ID_CLAIMS_FETCH_WAIT_MS"]["value"] == "250"


@pytest.mark.parametrize(("values", "message"), [
    ({"idClaimsRetentionH": 0}, "worker.idClaimsRetentionH must be above 0"),
    ({"idClaimsFetchWaitMs": 0}, "worker.idClaimsFetchWaitMs must be between 1 and 5000"),
    ({"idClaimsFetchWaitMs": 5001}, "worker.idClaimsFetchWaitMs must be between 1 and 5000"),
], ids=["retention-0", "fetch-wait-0", "fetch-wait-5001"])
def test_given_id_claim_values_out_of_range_when_rendered_then_it_fails(chart: Any, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(chart, {"worker": values})


# -- volumes, security, observability --------------------------------------------------


def test_given_defaults_then_pods_run_non_root_on_a_read_only_root_with_writable_data_and_tmp(chart: Any) -> None:
    for manifest in render(chart):
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        pod = manifest["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        spec = pod["containers"][0]
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
        assert "/tmp" in mounts
        if manifest["kind"] == "Deployment":
            assert env_of(spec)["SWERVE_DATA_DIR"]["value"] == "/var/lib/swerve"
            assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == mounts["/var/lib/swerve"])


def test_given_a_models_claim_then_it_is_mounted_read_only_in_both_roles(chart: Any) -> None:
    manifests = render(chart, {"models": {"existingClaim": "swerve-weights", "mountPath": "/models"}})
    for role in ("detect", "correct"):
        pod = one(manifests, "Deployment", f"rel-swerve-{role}")["spec"]["template"]["spec"]
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "models")
        assert mount["mountPath"] == "/models" and mount["readOnly"] is True
        volume = next(v for v in pod["volumes"] if v["name"] == "models")
        assert volume["persistentVolumeClaim"] == {"claimName": "swerve-weights", "readOnly": True}
        assert env_of(pod["containers"][0])["HF_HUB_OFFLINE"]["value"] == "1"


def test_given_an_image_store_uri_then_workers_get_it(chart: Any) -> None:
    manifests = render(chart, {"imageStore": {"uri": "s3://bucket/swerve"}})
    env = env_of(container(one(manifests, "Deployment", "rel-swerve-correct")))
    assert env["SWERVE_IMAGE_STORE_URI"]["value"] == "s3://bucket/swerve"


def test_given_defaults_then_metrics_services_exist_probes_hit_the_health_endpoints_and_no_servicemonitor(chart: Any) -> None:
    manifests = render(chart)
    for role in ("detect", "correct"):
        service = one(manifests, "Service", f"rel-swerve-{role}-metrics")
        assert service["spec"]["ports"] == [{"name": "metrics", "port": 9000, "targetPort": "metrics", "protocol": "TCP"}]
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == role
        spec = container(one(manifests, "Deployment", f"rel-swerve-{role}"))
        assert spec["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert not [m for m in manifests if m["kind"] in ("ServiceMonitor", "HorizontalPodAutoscaler", "PodDisruptionBudget")]


def test_given_the_probe_paths_then_the_worker_metrics_server_answers_each_of_them(chart: Any) -> None:
    # The probes must name endpoints that streams/metrics.py really serves (404 would restart pods forever).
    spec = container(one(render(chart), "Deployment", "rel-swerve-detect"))
    paths = {spec[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")}
    server = serve_metrics(0, address="127.0.0.1")
    try:
        port = server.server_address[1]
        for path in sorted(paths):
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).status
            except urllib.error.HTTPError as exc:
                status = exc.code
            assert status in (200, 503), f"{path} answered {status}"
    finally:
        server.shutdown()
        server.server_close()


def test_given_optional_features_enabled_then_servicemonitor_hpa_and_pdbs_render(chart: Any) -> None:
    manifests = render(chart, {
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        "detect": {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4}, "pdb": {"enabled": True}},
        "correct": {"pdb": {"enabled": True}},
    })
    monitor = one(manifests, "ServiceMonitor", "rel-swerve")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    hpa = one(manifests, "HorizontalPodAutoscaler", "rel-swerve-detect")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "rel-swerve-detect"
    assert "replicas" not in one(manifests, "Deployment", "rel-swerve-detect")["spec"]
    assert one(manifests, "Deployment", "rel-swerve-correct")["spec"]["replicas"] == 1
    assert one(manifests, "PodDisruptionBudget", "rel-swerve-detect")["spec"]["minAvailable"] == 1
    assert one(manifests, "PodDisruptionBudget", "rel-swerve-correct")["spec"]["maxUnavailable"] == 1


def test_given_rendered_manifests_then_all_carry_the_standard_labels(chart: Any) -> None:
    for manifest in render(chart):
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "swerve"
        assert labels["app.kubernetes.io/instance"] == "rel"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "swerve-0.1.0"
