"""Ed25519 keys of the audit log: the two file forms, clear errors, and `swerve audit keygen`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swerve.audit.signing import AuditSigner, TrustedKeys, audit_signer, load_private_key, signed_payload
from swerve.errors import ConfigurationError
from swerve.cli.main import app


def test_given_keygen_then_the_private_key_is_private_and_signs_what_the_public_key_verifies(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "keygen", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    private, public = tmp_path / "keys" / "audit.key", tmp_path / "keys" / "audit.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and public.exists()
    signer = AuditSigner.from_file(private)
    assert f"key id {signer.key_id}" in result.output
    signed = signer.sign({"a": 1, "key_id": "ignored", "signature": "ignored"})
    assert signed["key_id"] == signer.key_id and TrustedKeys.from_paths([tmp_path / "keys"]).check(signed) == "valid"
    assert signed_payload(signed) == b'{"a":1,"key_id":"' + signer.key_id.encode() + b'"}'


@pytest.mark.parametrize("content, message", [(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", "not an unencrypted PEM"),
                                              (b"short", "neither PEM nor a 32-byte raw Ed25519 seed")])
def test_given_a_bad_key_file_then_the_error_names_the_path_and_the_form(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match=message):
        load_private_key(path)
    with pytest.raises(ConfigurationError, match="cannot read the audit signing key"):
        load_private_key(tmp_path / "missing")


def test_given_no_key_then_workers_get_no_signer_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="swerve.audit"):
        assert audit_signer(None) is None
    assert [r.message for r in caplog.records if "published unsigned" in r.message]


def test_given_audit_variables_then_settings_carry_the_key_paths(tmp_path: Path) -> None:
    from swerve.streams.settings import Settings

    settings = Settings.from_env({"SWERVE_AUDIT_SIGNING_KEY_PATH": "/run/secrets/audit.key", "SWERVE_AUDIT_TRUSTED_KEYS_DIR": str(tmp_path)})
    assert settings.audit.signing_key_path == Path("/run/secrets/audit.key") and settings.audit.trusted_keys_dir == tmp_path
    assert Settings.from_env({}).audit.signing_key_path is None
