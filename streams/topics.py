"""Topic names of the event flow (DESIGN.md, "Event flow"), under a configurable prefix.

``TopicNames("acme")`` gives ``acme.generations``, ``acme.delivery`` ... so several
deployments can share one cluster. Nothing here talks to a broker.
"""

from __future__ import annotations

from dataclasses import dataclass


# The one table of topics: short name (as stages, contracts and the CLI use it) -> the topic's
# name under the prefix, in flow order.
SUFFIXES: dict[str, str] = {
    "prompts": "prompts",
    "prompts_screened": "prompts.screened",
    "generations": "generations",
    "verdicts": "verdicts",
    "flagged": "flagged",
    "replacements": "replacements",
    # Requests held for a person, and the decisions on them (swerve.streams.review_log).
    "review": "review",
    "review_decisions": "review.decisions",
    "delivery": "delivery",
    "audit": "audit",
    "dlq": "dlq",
    # Internal: workers claim event ids here (swerve.streams.identity_claims); never produce to it.
    "claims": "claims",
}


@dataclass(frozen=True)
class TopicNames:
    """The full name of every swerve topic for one prefix."""

    prefix: str = "swerve"

    def full(self, short: str) -> str:
        """``delivery`` -> ``<prefix>.delivery``."""
        return f"{self.prefix}.{SUFFIXES[short]}"

    def by_short(self) -> dict[str, str]:
        """Short name -> full name, for every topic, in flow order."""
        return {short: self.full(short) for short in SUFFIXES}

    def short_of(self, full: str) -> str | None:
        """``<prefix>.prompts.screened`` -> ``prompts_screened``; None for a topic not of this prefix."""
        return next((short for short, name in self.by_short().items() if name == full), None)

    @property
    def prompts(self) -> str:
        return self.full("prompts")

    @property
    def prompts_screened(self) -> str:
        return self.full("prompts_screened")

    @property
    def generations(self) -> str:
        return self.full("generations")

    @property
    def verdicts(self) -> str:
        return self.full("verdicts")

    @property
    def flagged(self) -> str:
        return self.full("flagged")

    @property
    def replacements(self) -> str:
        return self.full("replacements")

    @property
    def review(self) -> str:
        return self.full("review")

    @property
    def review_decisions(self) -> str:
        return self.full("review_decisions")

    @property
    def delivery(self) -> str:
        return self.full("delivery")

    @property
    def audit(self) -> str:
        return self.full("audit")

    @property
    def dlq(self) -> str:
        return self.full("dlq")

    @property
    def claims(self) -> str:
        return self.full("claims")

    def all(self) -> list[str]:
        """Every topic, in flow order."""
        return list(self.by_short().values())

    def resolve(self, short_or_full: str) -> str:
        """Accept ``delivery`` or ``swerve.delivery`` and return the full name."""
        if short_or_full in self.all():
            return short_or_full
        if short_or_full in SUFFIXES:
            return self.full(short_or_full)
        candidate = f"{self.prefix}.{short_or_full}"
        if candidate in self.all():
            return candidate
        raise KeyError(f"unknown topic {short_or_full!r}; known: {', '.join(self.all())}")
