"""The keys file: digests not keys, one tenant per producer, constant-time lookup, and a gateway
that will not start without keys unless told, on loopback only, to let everyone in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from swerve.cli.main import app as cli
from swerve.errors import ConfigurationError
from swerve.gateway import GatewaySettings, KeyRing, key_digest, new_key
from swerve.gateway.key_source import InsecureDevTenant, key_source

from .builders import KEYS, keys_file


def write_yaml(path: Path, entries: list[dict[str, object]]) -> Path:
    path.write_text(yaml.safe_dump({"keys": entries}), encoding="utf-8")
    return path


def entry(name: str = "acme", key: str = "k-acme", **fields: object) -> dict[str, object]:
    return {"name": name, "sha256": key_digest(key), "roles": ["producer"], "tenants": ["acme"], **fields}


def test_given_a_keys_file_then_each_key_finds_its_entry_and_nothing_else_does(tmp_path: Path) -> None:
    ring = KeyRing.load(keys_file(tmp_path / "keys.json"))

    acme, reviewer = ring.identify(KEYS["acme"]), ring.identify(KEYS["reviewer"])

    assert acme is not None and (acme.name, acme.tenant, acme.may("producer"), acme.may("reviewer")) == (
        "acme-generator", "acme", True, False)
    assert reviewer is not None and reviewer.tenants == ("acme", "beta") and not reviewer.may("producer")
    assert ring.identify("swk_unknown") is None and ring.identify("") is None and ring.identify(None) is None
    # The digest of the key is stored, never the key
    assert KEYS["acme"] not in (tmp_path / "keys.json").read_text()


def test_given_yaml_with_a_rate_limit_then_it_loads(tmp_path: Path) -> None:
    ring = KeyRing.load(write_yaml(tmp_path / "keys.yaml", [entry(rate_limit="5/minute")]))
    assert ring.keys[0].rate_limit == "5/minute"


@pytest.mark.parametrize(("entries", "expected"), [
    ([entry(tenants=["acme", "beta"])], "exactly one tenant"),
    ([entry(roles=["admin"])], "roles.0"),
    ([entry(sha256="not-a-digest")], "sha256"),
    ([entry(tenants=["../escape"])], "tenant names"),
    ([entry(rate_limit="fast")], "not of the form"),
    ([entry(), entry(key="k-other")], "share the name"),
    ([entry(), entry(name="other")], "share the sha256"),
    ([entry(key_text="plaintext")], "Extra inputs"),
    ([], "lists no keys"),
])
def test_given_an_invalid_keys_file_then_loading_names_the_problem(tmp_path: Path, entries: list[dict[str, object]], expected: str) -> None:
    with pytest.raises(ConfigurationError, match="keys file") as raised:
        KeyRing.load(write_yaml(tmp_path / "keys.yaml", entries))
    assert expected in str(raised.value)


def test_given_a_missing_or_broken_file_then_loading_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the API keys file"):
        KeyRing.load(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("keys: [", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not YAML or JSON"):
        KeyRing.load(tmp_path / "broken.yaml")


def test_given_no_keys_configured_then_the_gateway_refuses_to_start_unless_told_to_let_everyone_in() -> None:
    with pytest.raises(ConfigurationError, match="SWERVE_GATEWAY_API_KEYS_FILE"):
        key_source(GatewaySettings())
    # The development tenant lets any caller in, key or not, on loopback only
    source = key_source(GatewaySettings(insecure_dev_tenant="demo"))
    assert isinstance(source, InsecureDevTenant)
    anyone = source.identify(None)
    assert anyone is not None and anyone.tenant == "demo"
    with pytest.raises(ConfigurationError, match="refused on host '0.0.0.0'"):
        key_source(GatewaySettings(insecure_dev_tenant="demo", host="0.0.0.0"))


def test_given_no_keys_then_serve_exits_78_naming_the_settings() -> None:
    result = CliRunner().invoke(cli, ["gateway", "serve", "--port", "0"], env={
        "SWERVE_GATEWAY_API_KEYS_FILE": "", "SWERVE_GATEWAY_INSECURE_DEV_TENANT": ""})

    assert result.exit_code == 78
    assert "swerve gateway cannot start: the gateway has no API keys" in result.output
    assert "--insecure-dev-tenant" in result.output


def test_given_hash_key_then_it_prints_a_new_key_and_an_entry_with_its_digest(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["gateway", "hash-key", "--name", "acme-generator", "--tenant", "acme"])

    assert result.exit_code == 0, result.output
    key = result.output.split("stored nowhere): ", 1)[1].split()[0]
    entries = yaml.safe_load(result.output)
    assert entries == [{"name": "acme-generator", "sha256": key_digest(key), "roles": ["producer"], "tenants": ["acme"]}]
    # ... which a keys file takes as it is
    (tmp_path / "keys.json").write_text(json.dumps({"keys": entries}), encoding="utf-8")
    assert KeyRing.load(tmp_path / "keys.json").identify(key) is not None
    # ... and a producer of two tenants is refused
    refused = CliRunner().invoke(cli, ["gateway", "hash-key", "--name", "x", "--tenant", "a", "--tenant", "b"])
    assert refused.exit_code == 2 and "exactly one tenant" in refused.output


def test_new_keys_differ_and_carry_the_prefix() -> None:
    keys = {new_key() for _ in range(16)}
    assert len(keys) == 16 and all(k.startswith("swk_") and len(k) == 47 for k in keys)
