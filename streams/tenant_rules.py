"""Whether a tenant's override only tightens the base policy, and which rules a request gets
given where its tenant came from (docs/security.md, "Tenants").

A tenant named in an event body is a claim: any producer can write any name. So a claim may
only ever make the rules stricter. An override that would relax them (fewer or weaker
detectors, a weaker action, a weaker error action) applies only where the tenant comes from
a source the producer cannot forge: a worker pinned to that tenant
(``SWERVE_WORKER_TENANT``), consuming that tenant's own topics, which Kafka ACLs protect. The
policy must say so (``relaxes: true``, ``source: pinned_worker``), or it does not load.

No broker code here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from swerve.errors import TenantMismatchError

if TYPE_CHECKING:
    from swerve.streams.events import SwerveEvent
    from swerve.streams.policy import DetectorSpec, Rules

EventT = TypeVar("EventT", bound="SwerveEvent")
UNCLAIMED = "default"

# The strength of each action: a stronger one is stricter. Review is weaker than block (a
# person may approve what block would refuse) and stronger than correct (nothing is delivered
# until a person decides).
_ACTION: dict[str, int] = {"pass": 0, "correct": 1, "review": 2, "block": 3}
_ON_EXHAUSTED: dict[str, int] = {"review": 0, "block": 1}


def _detector_relaxations(kind: str, base: list[DetectorSpec], tenant: list[DetectorSpec]) -> list[str]:
    found: list[str] = []
    by_name = {spec.name: spec for spec in tenant}
    for spec in base:
        mine = by_name.get(spec.name)
        if mine is None:
            found.append(f"drops {kind} {spec.name!r}")
        elif (mine.kind, mine.params) != (spec.kind, spec.params):
            found.append(f"changes the kind or params of {kind} {spec.name!r}")
        elif _ACTION[mine.on_flag] < _ACTION[spec.on_flag]:
            found.append(f"weakens {kind} {spec.name!r} from {spec.on_flag} to {mine.on_flag}")
    return found


def bind_tenant(event: EventT, pinned: str | None) -> EventT:
    """The event as this worker judges it: on a worker pinned to a tenant, under that tenant.

    A body that claims no tenant (``default``) is given the pinned one; a body that claims
    another is refused. On an unpinned worker the claim stands, and ``Policy.rules_for`` lets
    it choose only rules that are at least as strict as the base.

    Raises:
        TenantMismatchError: the body claims a tenant other than the pinned one.
    """
    if pinned is None or event.tenant == pinned:
        return event
    if event.tenant != UNCLAIMED:
        raise TenantMismatchError(
            f"the event claims tenant {event.tenant!r}, but this worker serves only tenant {pinned!r}", event_id=event.id
        )
    return event.model_copy(update={"tenant": pinned})


def relaxations(base: Rules, tenant: Rules) -> list[str]:
    """How ``tenant`` is weaker than ``base``; empty when it only tightens or keeps them.

    Stricter means: every base detector kept with the same kind and params and an action at
    least as strong (more may be added), an error action at least as strong, and
    ``on_exhausted`` at least as strong (``review`` where the base blocks is weaker).
    Correctors, ``max_attempts`` and the review timeout may differ: every replacement is
    re-verified by the tenant's detectors, which are at least the base ones, and a timeout
    only ever resolves to block.
    """
    found = _detector_relaxations("detector", base.detectors, tenant.detectors)
    found += _detector_relaxations("prompt detector", base.prompt_detectors, tenant.prompt_detectors)
    if _ACTION[tenant.on_detector_error] < _ACTION[base.on_detector_error]:
        found.append(f"weakens on_detector_error from {base.on_detector_error} to {tenant.on_detector_error}")
    if _ON_EXHAUSTED[tenant.on_exhausted] < _ON_EXHAUSTED[base.on_exhausted]:
        found.append(f"weakens on_exhausted from {base.on_exhausted} to {tenant.on_exhausted}")
    return found
