"""Given messages on the audit topic, then sync admits only events signed by a trusted key:
unsigned, untrusted, forged and replayed ones are refused with their own named outcome."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from swerve.audit.canonical import canonical_sha256
from swerve.audit.ledger import AuditLedger
from swerve.audit.signing import AuditSigner, TrustedKeys
from swerve.audit.sync import admit
from swerve.streams.envelope import encode
from swerve.streams.events import AuditEvent
from swerve.streams.publication import Publication
from swerve.streams.publisher import Publisher

from ..audit.builders import audit_events, key_pair, wire


def message(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def test_given_a_signed_event_then_it_is_admitted_and_an_unsigned_one_only_when_allowed(tmp_path: Path) -> None:
    signer, public = key_pair(tmp_path)
    trusted = TrustedKeys.from_paths([public])
    event = audit_events(1)[0]
    assert admit(message(wire(signer.sign_event(event))), [], trusted, allow_unsigned=False)[0] == "admitted"
    assert admit(message(wire(event)), [], trusted, allow_unsigned=False) == ("unsigned", None)
    assert admit(message(wire(event)), [], trusted, allow_unsigned=True)[0] == "admitted"


def test_given_an_event_signed_by_an_untrusted_key_then_it_is_refused(tmp_path: Path) -> None:
    signer, _ = key_pair(tmp_path / "attacker")
    _, trusted_public = key_pair(tmp_path / "worker")
    signed = wire(signer.sign_event(audit_events(1)[0]))
    assert admit(message(signed), [], TrustedKeys.from_paths([trusted_public]), allow_unsigned=True) == ("unknown_key", None)


def test_given_a_forged_event_then_it_is_refused_whether_the_body_or_the_record_changed(tmp_path: Path) -> None:
    signer, public = key_pair(tmp_path)
    trusted = TrustedKeys.from_paths([public])
    signed = wire(signer.sign_event(audit_events(3)[2]))
    # the decision changed after signing
    assert admit(message({**signed, "decision": "pass"}), [], trusted, False)[0] == "forged"
    # the record changed, its digest recomputed to match: the signature covers the digest
    record = {**signed["record"], "decision": "pass"}
    assert admit(message({**signed, "record": record, "record_sha256": canonical_sha256(record)}), [], trusted, False)[0] == "forged"
    # the record changed, the digest left: caught before the signature is even checked
    assert admit(message({**signed, "record": record}), [], trusted, True)[0] == "forged"
    # a signature that is not base64
    assert admit(message({**signed, "signature": "%%%"}), [], trusted, False)[0] == "forged"
    # not an audit event at all
    assert admit(b"{not json", [], trusted, True)[0] == "undecodable"


def test_given_a_replayed_event_id_with_other_content_then_the_ledger_refuses_it(tmp_path: Path) -> None:
    signer, public = key_pair(tmp_path)
    original = audit_events(1)[0]
    ledger = AuditLedger(tmp_path / "audit.sqlite")
    assert ledger.append_event(wire(signer.sign_event(original))) == "appended"
    assert ledger.append_event(wire(signer.sign_event(original))) == "duplicate", "the same signed event again"
    # the same id, validly signed, other content (a captured id re-used with a different decision)
    replay = signer.sign_event(original.model_copy(update={"decision": "pass", "output_ids": []}))
    outcome, body = admit(message(wire(replay)), [], TrustedKeys.from_paths([public]), False)
    assert outcome == "admitted" and body is not None and ledger.append_event(body) == "replayed"
    assert ledger.size() == 1


def test_given_two_trusted_keys_then_events_of_both_are_admitted_for_rotation(tmp_path: Path) -> None:
    old, old_public = key_pair(tmp_path / "old")
    seed = tmp_path / "new.seed"
    new_key = Ed25519PrivateKey.generate()
    seed.write_bytes(new_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    new = AuditSigner.from_file(seed)  # a raw 32-byte seed file works as well as PEM
    (tmp_path / "trusted").mkdir()
    (tmp_path / "trusted" / "old.pem").write_bytes(old_public.read_bytes())
    (tmp_path / "trusted" / "new.pub").write_bytes(new.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    trusted = TrustedKeys.from_paths([tmp_path / "trusted"])
    assert len(trusted) == 2 and old.key_id != new.key_id
    for signer in (old, new):
        assert admit(message(wire(signer.sign_event(audit_events(1)[0]))), [], trusted, False)[0] == "admitted"


class RecordingTopic:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, key: bytes, value: bytes, headers: Any) -> "asyncio.Future[None]":
        self.sent.append(value)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def test_given_a_publisher_with_a_signer_then_only_audit_publications_are_signed(tmp_path: Path) -> None:
    signer, public = key_pair(tmp_path)
    topics = {"audit": RecordingTopic(), "verdicts": RecordingTopic()}
    event = audit_events(1)[0]
    publisher = Publisher(topics, source="/swerve/test", sign_audit=signer)  # type: ignore[arg-type]
    asyncio.run(publisher.publish([Publication("audit", event), Publication("verdicts", event)], None))
    audit, verdict = json.loads(topics["audit"].sent[0]), json.loads(topics["verdicts"].sent[0])
    assert audit["key_id"] == signer.key_id and TrustedKeys.from_paths([public]).check(audit) == "valid"
    assert verdict["signature"] is None
    assert encode(AuditEvent.model_validate(audit)).value == topics["audit"].sent[0], "the signed body survives a decode"
