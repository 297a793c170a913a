"""Topic names of the event flow (DESIGN.md, "Event flow"), under a configurable prefix.

``TopicNames("acme")`` gives ``acme.generations``, ``acme.delivery`` ... so several
deployments can share one cluster. Nothing here talks to a broker.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicNames:
    """The full name of every swerve topic for one prefix."""

    prefix: str = "swerve"

    @property
    def prompts(self) -> str:
        return f"{self.prefix}.prompts"

    @property
    def prompts_screened(self) -> str:
        return f"{self.prefix}.prompts.screened"

    @property
    def generations(self) -> str:
        return f"{self.prefix}.generations"

    @property
    def verdicts(self) -> str:
        return f"{self.prefix}.verdicts"

    @property
    def flagged(self) -> str:
        return f"{self.prefix}.flagged"

    @property
    def replacements(self) -> str:
        return f"{self.prefix}.replacements"

    @property
    def delivery(self) -> str:
        return f"{self.prefix}.delivery"

    @property
    def audit(self) -> str:
        return f"{self.prefix}.audit"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    def all(self) -> list[str]:
        """Every topic, in flow order."""
        return [
            self.prompts,
            self.prompts_screened,
            self.generations,
            self.verdicts,
            self.flagged,
            self.replacements,
            self.delivery,
            self.audit,
            self.dlq,
        ]

    def resolve(self, short_or_full: str) -> str:
        """Accept ``delivery`` or ``swerve.delivery`` and return the full name."""
        if short_or_full in self.all():
            return short_or_full
        candidate = f"{self.prefix}.{short_or_full}"
        if candidate in self.all():
            return candidate
        raise KeyError(f"unknown topic {short_or_full!r}; known: {', '.join(self.all())}")


