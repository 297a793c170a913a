"""The one exception tree of swerve.

Every error swerve raises on purpose is a ``SwerveError``. Each carries the context that
explains it: the event id and the stage it happened in, when known. Catch the narrowest
class you can act on; never catch ``Exception`` to hide a failure.

::

    SwerveError
    ├── InvalidInputError            the input can never succeed as it is: route it to the DLQ
    │   ├── MalformedEventError      not UTF-8, not JSON, missing required headers
    │   ├── SchemaViolationError     valid JSON that breaks the event contract
    │   ├── TenantMismatchError      the body claims a tenant this worker is not bound to
    │   ├── IdConflictError          the event id was first used for other content
    │   ├── ReviewDecisionError      a reviewer decision that cannot apply to the item it names
    │   │   ├── ReviewItemNotFoundError      no review item of that id waits under that request
    │   │   └── NoReplacementCandidateError  approve_replacement for an item without a candidate
    │   └── MediaError               an image that cannot be trusted or decoded
    │       ├── MediaTooLargeError       over the byte limit
    │       ├── DecompressionBombError   over the pixel limit
    │       ├── UnsupportedMediaTypeError  not in the format allow-list
    │       ├── CorruptMediaError        truncated or undecodable bytes
    │       ├── MediaIntegrityError      sha256, media type or dimensions do not match
    │       └── MediaUnreachableError    the reference cannot be read: no such object, not allowed
    ├── ConfigurationError           a setting, policy or model path is wrong: fix and restart
    │   ├── PolicyError
    │   └── ModelNotFoundError
    ├── DetectorError                a detector failed on valid input (fails closed)
    ├── CorrectionError              a corrector could not produce a replacement
    ├── ResourceExhaustedError       out of (GPU) memory even after a smaller retry: blocked as infrastructure
    ├── TransientError               a dependency did not answer: retry with backoff, never dead-letter
    │   ├── StoreUnavailableError        the image store did not answer (timeout, I/O, its root is gone)
    │   └── BrokerUnavailableError       the broker did not acknowledge a send in time
    ├── BrokerError                  the embedded broker could not start or stop
    ├── ModerationTimeoutError       no outcome arrived in time (also a TimeoutError): ask again later
    ├── AlreadyDecidedError          a review decision for a request that another decision settled first
    └── AuditError                   the audit log cannot be written or trusted as it is
        ├── CanonicalizationError        a value RFC 8785 (JCS) cannot represent: NaN, an integer beyond 2^53
        ├── SignatureError               a signature or key is missing, unknown, malformed or wrong
        └── LedgerFormatError            a ledger file of a format this version does not read

This module must never import anything beyond the standard library: every package uses it.
"""

from __future__ import annotations

__all__ = [
    "SwerveError",
    "InvalidInputError",
    "MalformedEventError",
    "SchemaViolationError",
    "TenantMismatchError",
    "IdConflictError",
    "ReviewDecisionError",
    "ReviewItemNotFoundError",
    "NoReplacementCandidateError",
    "MediaError",
    "MediaTooLargeError",
    "DecompressionBombError",
    "UnsupportedMediaTypeError",
    "CorruptMediaError",
    "MediaIntegrityError",
    "MediaUnreachableError",
    "ConfigurationError",
    "PolicyError",
    "ModelNotFoundError",
    "DetectorError",
    "CorrectionError",
    "ResourceExhaustedError",
    "UnsupportedSizeError",
    "TransientError",
    "StoreUnavailableError",
    "BrokerUnavailableError",
    "BrokerError",
    "ModerationTimeoutError",
    "AlreadyDecidedError",
    "AuditError",
    "CanonicalizationError",
    "SignatureError",
    "LedgerFormatError",
]


class SwerveError(Exception):
    """Base of every deliberate swerve error.

    Args:
        message: what went wrong, in words an operator can act on.
        event_id: the id of the event being processed, if any.
        stage: the pipeline stage (``decode``, ``detect``, ``correct``, ...), if any.
    """

    def __init__(self, message: str, *, event_id: str | None = None, stage: str | None = None):
        super().__init__(message)
        self.message = message
        self.event_id = event_id
        self.stage = stage

    def __str__(self) -> str:
        context = [f"{k}={v}" for k, v in (("event", self.event_id), ("stage", self.stage)) if v]
        return f"{self.message} ({', '.join(context)})" if context else self.message


class InvalidInputError(SwerveError):
    """The input can never succeed as it is; retrying will not help."""


class MalformedEventError(InvalidInputError):
    """The message is not UTF-8, not JSON, or lacks required headers."""


class SchemaViolationError(InvalidInputError):
    """The message is JSON but breaks the event contract."""


class TenantMismatchError(InvalidInputError):
    """The event's body names a tenant other than the one its source (a pinned worker) is bound to."""


class IdConflictError(InvalidInputError):
    """The event id was claimed first by an event of other content: delivering this one
    under the outputs' shared ids would make a consumer that dedupes by id drop one of them."""


class ReviewDecisionError(InvalidInputError):
    """A reviewer decision that cannot apply to the review item it names (for instance a
    reviewer name reserved for swerve, or a timeout decision that does not match the item's
    deadline). The worker dead-letters it; the request stays pending."""


class ReviewItemNotFoundError(ReviewDecisionError):
    """No review item with the decision's ``item_id`` waits under its ``request_id``: a wrong
    request id, a request that never went to review, or a decision published before its item."""


class NoReplacementCandidateError(ReviewDecisionError):
    """``approve_replacement`` for an item whose corrections left no candidate to deliver."""


class MediaError(InvalidInputError):
    """An image that cannot be trusted or decoded."""


class MediaTooLargeError(MediaError):
    """The encoded image is over the byte limit."""


class DecompressionBombError(MediaError):
    """The image declares more pixels than the pixel limit allows."""


class UnsupportedMediaTypeError(MediaError):
    """The image format is not in the allow-list."""


class CorruptMediaError(MediaError):
    """The bytes are truncated or cannot be decoded as the declared format."""


class MediaIntegrityError(MediaError):
    """The bytes do not match the declared sha256, media type or dimensions."""


class MediaUnreachableError(MediaError):
    """The image reference cannot be read, and retrying will not help: the store answered
    that there is no such object, access is denied, or the scheme is not allowed."""


class ConfigurationError(SwerveError):
    """A setting, policy or model path is wrong; fix it and restart."""


class PolicyError(ConfigurationError):
    """The policy file is missing, unreadable or invalid."""


class ModelNotFoundError(ConfigurationError):
    """A model directory or checkpoint is missing at the configured local path."""


class DetectorError(SwerveError):
    """A detector failed on valid input. The verdict becomes ``error`` (fail closed)."""


class CorrectionError(SwerveError):
    """A corrector could not produce a replacement."""


class UnsupportedSizeError(CorrectionError):
    """The original's size cannot be generated by the corrector's model, and the policy refuses
    to resize. Final: more attempts would not change it, so the correction stops at once."""


class ResourceExhaustedError(SwerveError):
    """Out of memory (GPU or host) even after freeing caches and retrying alone.

    An infrastructure fault, not a verdict on the image: it never counts as a correction
    attempt, and the request is blocked with the ``infrastructure`` reason class.
    """


class TransientError(SwerveError):
    """A dependency did not answer. Retrying later may succeed; the input is never
    dead-lettered for it. When retries run out the worker stops without committing."""


class StoreUnavailableError(TransientError):
    """The image store did not answer: a timeout, an I/O error, or its root is missing."""


class BrokerUnavailableError(TransientError):
    """The broker did not acknowledge a send within the retry budget."""


class BrokerError(SwerveError):
    """The embedded broker could not be started or stopped."""


class ModerationTimeoutError(SwerveError, TimeoutError):
    """No outcome arrived for a request within the caller's timeout (``swerve.client``).

    The request is not lost: it was published, and its outcome will come. Ask again with
    ``Swerve.outcome(request_id)``. It is a ``TimeoutError`` too, so ``except TimeoutError``
    catches it.

    Args:
        message: what was waited for, and for how long.
        request_id: the request whose outcome did not arrive.
        event_id: the id of the generation event that was published, when known.
    """

    def __init__(self, message: str, *, request_id: str, event_id: str | None = None):
        super().__init__(message, event_id=event_id, stage="delivery")
        self.request_id = request_id


class AlreadyDecidedError(SwerveError):
    """A review decision for a request whose first decision in the decisions log was another.

    The first decision wins; this one changes nothing. The error carries the first decision's
    details so the refused reviewer can see who decided what, and when.

    Args:
        message: what was refused.
        request_id: the request under review.
        first_decision: the first decision (``approve_original``, ``approve_replacement``, ``block``).
        first_reviewer: who made it (``swerve:review-timeout`` for the timeout).
        first_decided_at: when, as an ISO 8601 string.
        first_decision_id: the first decision's event id.
    """

    def __init__(
        self,
        message: str,
        *,
        request_id: str,
        first_decision: str,
        first_reviewer: str,
        first_decided_at: str,
        first_decision_id: str,
        event_id: str | None = None,
    ):
        super().__init__(message, event_id=event_id, stage="review")
        self.request_id = request_id
        self.first_decision = first_decision
        self.first_reviewer = first_reviewer
        self.first_decided_at = first_decided_at
        self.first_decision_id = first_decision_id


class AuditError(SwerveError):
    """The audit log cannot be written or trusted as it is."""


class CanonicalizationError(AuditError):
    """A value RFC 8785 (JCS) cannot represent: NaN, an infinity, an integer beyond 2^53 - 1."""


class SignatureError(AuditError):
    """A signature or key is missing, unknown to the trust store, malformed or wrong."""


class LedgerFormatError(AuditError):
    """The ledger file is of a format this version does not read (e.g. a hash-chain ledger)."""
