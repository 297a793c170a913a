"""Tenant-scoped request ids, and the bounded memory of what this gateway published."""

from __future__ import annotations

from swerve.gateway.published import PublishedRequests, scoped_request_id


def test_given_two_tenants_then_the_same_request_id_is_two_requests() -> None:
    published = PublishedRequests(capacity=2)
    published.add(scoped_request_id("acme", "r-1"))

    assert scoped_request_id("acme", "r-1") in published and scoped_request_id("beta", "r-1") not in published
    # The oldest is forgotten past the capacity
    published.add(scoped_request_id("acme", "r-2"))
    published.add(scoped_request_id("acme", "r-3"))
    assert len(published) == 2 and scoped_request_id("acme", "r-1") not in published
