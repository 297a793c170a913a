"""``Outcome``: what the SDK hands back for one request, built from its ``DeliveryEvent``.

A delivery names the image by ``ImageRef`` (inline bytes or a claim-check URI). The outcome
carries the image's bytes, read and sha256-verified through ``swerve.media`` within the
caller's limits, so a caller never handles references. This module must never talk to a
broker: it turns one delivery into one value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from swerve.media import ImageStore, MediaLimits, decode_bytes, read_image_bytes
from swerve.media.limits import DEFAULT_LIMITS
from swerve.streams.events import DeliveryEvent, DeliveryOutcome, ReasonClass

__all__ = ["Outcome", "delivery_reasons"]

# A delivery joins the verdict's reasons with this (streams/detect_stage.py, correct_stage.py).
_REASON_SEPARATOR = "; "


def delivery_reasons(delivery: DeliveryEvent) -> tuple[str, ...]:
    """The reasons a delivery gives, one per firing or failing detector.

    Policy reasons (a block, or why a replacement was made) are the verdict's reasons joined
    with ``"; "``, and each of them ends in ``"; policy: <action>"`` (``streams/judging.py``), so
    a part that starts with ``"policy: "`` closes the reason before it. Any other reason (an
    internal error, a rejection's error message) is one line and is kept whole, since an error
    message may contain ``"; "`` itself. (A detector's error text with ``"; "`` in it still
    splits: the contract carries the reasons as one string.)
    """
    if not delivery.reason:
        return ()
    if delivery.reason_class not in (None, "policy"):
        return (delivery.reason,)
    reasons: list[str] = []
    for part in delivery.reason.split(_REASON_SEPARATOR):
        if part.startswith("policy: ") and reasons:
            reasons[-1] += _REASON_SEPARATOR + part
        elif part:
            reasons.append(part)
    return tuple(reasons)


@dataclass(frozen=True)
class Outcome:
    """The one final outcome of a moderated request.

    Args:
        request_id (`str`): the request it answers.
        outcome (`str`): ``"original"`` (delivered as generated), ``"replacement"`` (a
            corrected image), ``"blocked"`` or ``"rejected"`` (invalid input, dead-lettered).
        image (`bytes`, *optional*): the delivered image, encoded (``media_type``); None when
            blocked or rejected.
        image_uri (`str`, *optional*): where the delivered image is stored, when it travelled
            by reference (claim check); None when it travelled inline or there is none.
        media_type (`str`, *optional*): the format of ``image``.
        reasons (`tuple[str, ...]`): why it was blocked, rejected or replaced; empty for a
            clean original.
        reason_class (`str`, *optional*): for blocked and rejected: ``policy``,
            ``infrastructure``, ``internal`` or ``invalid_input``; ``review`` on any outcome a
            person (or the review timeout) decided, whose one reason names the reviewer.
        verdict_id (`str`): the verdict that decided (empty for input that could not be read).
        replacement_id (`str`, *optional*): the replacement event, for ``"replacement"`` (None
            for a candidate a reviewer approved: no replacement event is published for it).
        policy_version (`str`): the policy version that decided.
        delivery (`DeliveryEvent`): the raw event from ``<prefix>.delivery``.
        limits (`MediaLimits`): the bounds ``pil()`` decodes under.
    """

    request_id: str
    outcome: DeliveryOutcome
    image: bytes | None = field(repr=False)
    image_uri: str | None
    media_type: str | None
    reasons: tuple[str, ...]
    reason_class: ReasonClass | None
    verdict_id: str
    replacement_id: str | None
    policy_version: str
    delivery: DeliveryEvent = field(repr=False)
    limits: MediaLimits = field(default=DEFAULT_LIMITS, repr=False, compare=False)

    @classmethod
    def from_delivery(
        cls, delivery: DeliveryEvent, *, limits: MediaLimits = DEFAULT_LIMITS, store: ImageStore | None = None
    ) -> Outcome:
        """Build the outcome of ``delivery``, reading its image (blocking I/O for a reference).

        Args:
            delivery (`DeliveryEvent`): the first delivery of the request.
            limits (`MediaLimits`, *optional*): byte cap, allowed URI bases, fetch timeout.
            store (`ImageStore`, *optional*): the claim-check store (tells a missing object
                from a store that is down, see ``read_image_bytes``).

        Raises:
            MediaError: the image cannot be read or does not match its sha256.
            StoreUnavailableError: the store did not answer; asking again may succeed.
        """
        ref = delivery.image
        return cls(
            request_id=delivery.request_id,
            outcome=delivery.outcome,
            image=read_image_bytes(ref, limits, store) if ref is not None else None,
            image_uri=ref.uri if ref is not None else None,
            media_type=ref.media_type if ref is not None else None,
            reasons=delivery_reasons(delivery),
            reason_class=delivery.reason_class,
            verdict_id=delivery.verdict_id,
            replacement_id=delivery.replacement_id,
            policy_version=delivery.policy_version,
            delivery=delivery,
            limits=limits,
        )

    def pil(self) -> Image.Image | None:
        """The delivered image decoded as RGB, or None when there is none (blocked, rejected).

        Raises:
            MediaError: the bytes are outside ``limits`` or cannot be decoded.
        """
        if self.image is None:
            return None
        return decode_bytes(self.image, self.limits)
