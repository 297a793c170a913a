"""``Moderator``: the detect and correct stages in the caller's process, with no broker.

It runs the workers' own stage code (``swerve.streams.detect_stage.detect`` and
``swerve.streams.correct_stage.CorrectStage``) on the caller's thread: a generation is judged,
a flagged one is handed to the correct stage exactly as the correct worker receives it, and
the final delivery becomes the same ``Outcome`` that ``Swerve.moderate`` returns. The audit
records the workers would publish to ``<prefix>.audit`` are appended (signed, when a key is
configured) to a local ledger file that ``swerve audit verify --ledger FILE`` checks.

::

    moderator = Moderator.from_policy("policy.yaml")     # builds every detector and corrector now
    outcome = moderator.moderate(image, prompt="a red star", seed=7)
    outcomes = moderator.moderate_many([{"image": a, "prompt": "..."}, ...])  # one detect batch

Failure classes follow the workers' (docs/reliability.md), less the broker: invalid input
raises its named error before anything is judged (a worker would dead-letter it); a bug in
stage code on one sample fails that sample closed (``blocked``, ``reason_class: internal``);
a store that does not answer raises ``StoreUnavailableError`` (a worker would retry) and
nothing is written to the ledger. Prompt screening is not run here.

This module must never judge or correct by itself: every decision comes from the stage code.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from swerve.audit.ledger import AuditLedger
from swerve.audit.signing import AuditSigner, audit_signer
from swerve.errors import AuditError, IdConflictError, InvalidInputError, PolicyError
from swerve.index.threads import configure_faiss_threads
from swerve.media import ImageStore, decode_image
from swerve.streams import detect_stage
from swerve.streams.correct_stage import CorrectStage
from swerve.streams.dependency_retry import is_transient
from swerve.streams.detect_stage import DecodedGeneration
from swerve.streams.events import AuditEvent, DeliveryEvent, FlaggedEvent
from swerve.streams.failure_isolation import run_isolated
from swerve.streams.judging import Judge
from swerve.streams.policy import Policy, builtin_variables, load_policy
from swerve.streams.publication import Publication
from swerve.streams.start_up import prepared
from swerve.streams.settings import Settings
from swerve.streams.tenant_rules import bind_tenant

from swerve.client.image_input import ImageInput
from swerve.client.outcome import Outcome
from swerve.client.request import ModerationRequest, generation_event

__all__ = ["DEFAULT_LEDGER_NAME", "Moderator"]

log = logging.getLogger("swerve.client")

#: The ledger file under ``settings.data_dir`` when ``ledger_path`` is not given.
DEFAULT_LEDGER_NAME = "moderator-audit.sqlite"


@dataclass(frozen=True)
class _Decided:
    """Everything the stages published for one request: its final delivery and its audit records."""

    delivery: DeliveryEvent
    audits: list[AuditEvent]


def load_policy_for(path: Path | str, settings: Settings) -> Policy:
    """The policy file at ``path``, with ``${SWERVE_DATA_DIR}`` meaning ``settings.data_dir``.

    The other variables resolve as for a worker (``swerve.streams.policy.parse_policy``): the
    built-ins (``${SWERVE_TOYWORLD}``), then the environment.

    Raises:
        PolicyError: the file cannot be read or is not a valid policy; the message names it.
    """
    return load_policy(path, {**builtin_variables(), **os.environ, "SWERVE_DATA_DIR": str(settings.data_dir)})


class Moderator:
    """Moderates generated images in this process, under one policy, with no broker.

    ::

        moderator = Moderator.from_policy("policy.yaml")
        outcome = moderator.moderate(png_bytes, prompt="a red star", seed=7)
        outcome.outcome, outcome.reasons, outcome.pil()

    Every detector and corrector the policy names, for every tenant, is built here, and the
    image store, the signing key and the ledger are checked: a wrong model, index or key path
    fails now, naming it, as a worker fails at start-up. Calls from several threads run one at
    a time. The ledger is opened for each call (an SQLite connection belongs to one thread).

    Args:
        policy (`Policy`): the rules (``Moderator.from_policy`` reads them from a file).
        settings (`Settings`, *optional*): media limits, the image store (for images over the
            inline limit, and replacements), ``data_dir``, the audit signing key
            (``SWERVE_AUDIT_SIGNING_KEY_PATH``) and the pinned tenant
            (``SWERVE_WORKER_TENANT``); ``Settings.from_env()`` when not given.
        ledger_path (`Path | str | False`, *optional*): the audit ledger (SQLite) the records
            are appended to; None means ``<settings.data_dir>/moderator-audit.sqlite``, and
            False writes no ledger (the decisions are then recorded nowhere: for experiments
            only).

    Raises:
        ConfigurationError (``ModelNotFoundError``, ``PolicyError``): a detector, corrector,
            the image store, the signing key or the ledger cannot be built or opened; or the
            policy sends requests to a person (``review``), which only workers can wait for.
        LedgerFormatError: the ledger file is of a format this version does not write.
    """

    def __init__(self, policy: Policy, *, settings: Settings | None = None,
                 ledger_path: Path | str | Literal[False] | None = None) -> None:
        self.policy = policy
        self.settings = settings if settings is not None else Settings.from_env()
        # A request under review has no outcome until a person decides, maybe hours later, and
        # this process has no review queue: refuse rules that would send requests there. The
        # rules every request gets (the pinned tenant's, or the base rules) are checked now; a
        # tenant's override that reviews is refused when a request names it (``_refuse_review``).
        self._refuse_review(self.settings.worker.tenant or "default")
        self.ledger_path: Path | None = (
            None if ledger_path is False
            else self.settings.data_dir / DEFAULT_LEDGER_NAME if ledger_path is None
            else Path(ledger_path)
        )
        # Requests are bound to the pinned tenant as a pinned worker binds them; unpinned, a
        # tenant a request names may only tighten the base rules (docs/security.md, "Tenants").
        self.tenant = self.settings.worker.tenant
        self._lock = threading.Lock()
        # Before any detector opens an index: SWERVE_FAISS_THREADS, else the CPU quota.
        configure_faiss_threads(self.settings.faiss_threads)
        self._judge = Judge()
        self._store = ImageStore(self.settings.image_store_uri, create_root=False)
        self._corrections = CorrectStage(policy, self._judge, self._store, self.settings.media, bound_tenant=self.tenant)
        self._sign: AuditSigner | None = None
        # 1. the image store: the moderator writes replacements and large generations to it
        prepared(f"the image store {self._store.base_uri}", self._store.ensure_root)
        # 2. every image detector of every tenant's rules, then every corrector (CorrectStage.prepare
        #    also checks each corrector against the detectors routed to it)
        for rules in policy.all_rules():
            for spec in rules.detectors:
                prepared(f"detector {spec.name!r} ({spec.kind})", partial(self._judge.detector, spec))
        prepared("the policy's correctors", self._corrections.prepare)
        # 3. the ledger and the key that signs its records
        if self.ledger_path is not None:
            self._sign = audit_signer(self.settings.audit.signing_key_path)
            prepared(f"the audit ledger {self.ledger_path}", lambda: self._open_ledger().close())

    @classmethod
    def from_policy(cls, path: Path | str, *, settings: Settings | None = None,
                    ledger_path: Path | str | Literal[False] | None = None) -> Moderator:
        """A moderator under the policy file at ``path`` (the file a worker's ``SWERVE_POLICY_PATH`` names).

        ``${SWERVE_DATA_DIR}`` in the file is ``settings.data_dir``; ``${SWERVE_TOYWORLD}`` and
        any other variable resolve as for a worker. The other arguments are the constructor's.

        Raises:
            PolicyError: the file cannot be read or is not a valid policy.
            ConfigurationError, LedgerFormatError: as for ``Moderator(...)``.
        """
        settings = settings if settings is not None else Settings.from_env()
        return cls(load_policy_for(path, settings), settings=settings, ledger_path=ledger_path)

    # -- moderation -------------------------------------------------------------------------

    def moderate(
        self,
        image: ImageInput,
        *,
        prompt: str,
        seed: int | None = None,
        tenant: str | None = None,
        negative_prompt: str | None = None,
        model_id: str | None = None,
        request_id: str | None = None,
    ) -> Outcome:
        """Judge one generated image, correct it if flagged, and return its one outcome.

        Args:
            image (`PIL.Image.Image | bytes | ImageRef | str`): as for ``Swerve.moderate``.
            prompt (`str`): the prompt that produced it.
            seed (`int`, *optional*): the generator's seed; a corrector regenerates from it.
            tenant (`str`, *optional*, defaults to ``"default"``): whose rules judge it.
            negative_prompt (`str`, *optional*): the negative prompt, if any.
            model_id (`str`, *optional*): the generator that made it.
            request_id (`str`, *optional*): the request's id; a uuid4 when not given.

        Raises:
            SchemaViolationError, MediaError, TenantMismatchError, TypeError, ValueError: the
                input is invalid; nothing was judged.
            IdConflictError: the ledger already holds a decision on ``request_id``.
            StoreUnavailableError: the image store did not answer; nothing was recorded.
            AuditError: the ledger could not be written.
        """
        [outcome] = self.moderate_many([ModerationRequest(
            image=image, prompt=prompt, seed=seed, tenant=tenant, negative_prompt=negative_prompt,
            model_id=model_id, request_id=request_id,
        )])
        return outcome

    def moderate_many(self, items: Sequence[ModerationRequest | Mapping[str, Any]]) -> list[Outcome]:
        """Judge every item in one detect batch, correct the flagged ones, return the outcomes in order.

        Every item is checked and decoded before any is judged: an invalid one raises and
        nothing is judged or recorded. A flagged or blocked item is an outcome like any other.

        Args:
            items (`Sequence[ModerationRequest | Mapping]`): the requests; a mapping has the
                keyword arguments of ``moderate`` (``image``, ``prompt``, ``seed``, ...).

        Raises:
            as ``moderate``; also ValueError when two items share a request id.
        """
        requests = [ModerationRequest.of(item).with_request_id() for item in items]
        seen: set[str] = set()
        for request in requests:
            assert request.request_id is not None  # with_request_id() set it
            if request.request_id in seen:
                raise ValueError(f"two items share the request id {request.request_id!r}")
            seen.add(request.request_id)
        if not requests:
            return []
        with self._lock:
            # 1. build and decode every generation, as the detect worker decodes its input
            batch = [self._decoded(request) for request in requests]
            for item in batch:
                self._refuse_review(item.event.tenant)
            self._refuse_decided([item.event.request_id for item in batch])
            # 2. judge the batch; 3. correct each flagged request
            decided = [self._decide(item, publications) for item, publications in zip(batch, self._detect(batch))]
            # 4. read each delivered image, then record: no outcome is returned unrecorded
            outcomes = [Outcome.from_delivery(d.delivery, limits=self.settings.media, store=self._store) for d in decided]
            self._record([audit for d in decided for audit in d.audits])
        return outcomes

    # -- steps --------------------------------------------------------------------------------

    def _refuse_review(self, tenant: str) -> None:
        """Raise ``PolicyError`` when ``tenant``'s rules can send a request to a person."""
        if self.policy.rules_for(tenant, bound=tenant == self.settings.worker.tenant).uses_review:
            raise PolicyError(
                f"policy {self.policy.full_version} sends tenant {tenant!r}'s requests to review (on_flag: review or "
                "on_exhausted: review); the in-process Moderator has no review queue: run workers (docs/operations.md, \"Review\")")

    def _decoded(self, request: ModerationRequest) -> DecodedGeneration:
        """The generation of ``request`` with its image decoded under the media limits (``streams.inputs.decode_generation``)."""
        generation = bind_tenant(generation_event(request, limits=self.settings.media, store=self._store), self.tenant)
        try:
            image = decode_image(generation.image, self.settings.media, self._store)
        except InvalidInputError as exc:
            exc.event_id = exc.event_id or generation.id
            raise
        return DecodedGeneration(generation, image)

    def _detect(self, batch: list[DecodedGeneration]) -> list[list[Publication]]:
        """The detect stage on ``batch``; a bug fails only its sample closed, as in the workers."""
        return run_isolated("detect", partial(detect_stage.detect, self._judge, self.policy, bound_tenant=self.tenant),
                            partial(detect_stage.fail_closed, self.policy), batch)

    def _correct(self, flagged: FlaggedEvent, item: DecodedGeneration) -> list[Publication]:
        """The correct stage on one flagged request; a bug fails it closed, as the correct worker does."""
        try:
            return self._corrections.correct(flagged, item.image)
        except Exception as exc:  # noqa: BLE001 - fail closed for this sample only
            if is_transient(exc):
                raise
            log.exception("correct stage failed on one input; failing it closed")
            return self._corrections.fail_closed((flagged, item.image), exc)

    def _decide(self, item: DecodedGeneration, publications: list[Publication]) -> _Decided:
        """Follow one request from its detect publications to its final delivery."""
        flagged = next((p.event for p in publications if p.topic == "flagged"), None)
        if isinstance(flagged, FlaggedEvent):
            # The flagged event goes to the correct stage as the correct worker would consume it.
            publications = [*publications, *self._correct(flagged, item)]
        deliveries = [p.event for p in publications if p.topic == "delivery"]
        if len(deliveries) != 1 or not isinstance(deliveries[0], DeliveryEvent):
            raise AssertionError(f"request {item.event.request_id!r}: the stages published {len(deliveries)} deliveries, not one")
        audits = [p.event for p in publications if p.topic == "audit" and isinstance(p.event, AuditEvent)]
        return _Decided(deliveries[0], audits)

    # -- the ledger -----------------------------------------------------------------------------

    def _open_ledger(self) -> AuditLedger:
        assert self.ledger_path is not None
        return AuditLedger(self.ledger_path)

    def _refuse_decided(self, request_ids: list[str]) -> None:
        """Refuse request ids the ledger already holds a decision on: their records would share ids."""
        if self.ledger_path is None:
            return
        ledger = self._open_ledger()
        try:
            for request_id in request_ids:
                if next(ledger.query(request_id=request_id, limit=1), None) is not None:
                    raise IdConflictError(
                        f"the audit ledger {self.ledger_path} already holds a decision on request {request_id!r}; "
                        "a request id names one request: give this one a new id", stage="moderate")
        finally:
            ledger.close()

    def _record(self, audits: list[AuditEvent]) -> None:
        """Append the audit records to the ledger, signed when a key is configured, in publication order."""
        if self.ledger_path is None:
            return
        ledger = self._open_ledger()
        try:
            for audit in audits:
                signed = self._sign(audit) if self._sign is not None else audit
                # The wire body, as `swerve audit sync` reads it from the audit topic.
                outcome = ledger.append_event(json.loads(signed.model_dump_json()))
                if outcome != "appended":
                    raise AuditError(f"the audit ledger {self.ledger_path} refused audit event {audit.id} ({outcome}): "
                                     "another writer recorded a decision on the same request", stage="audit")
        except sqlite3.Error as exc:
            raise AuditError(f"cannot write the audit ledger {self.ledger_path}: {type(exc).__name__}: {exc}", stage="audit") from exc
        finally:
            ledger.close()
