"""swerve.gateway: the HTTP gateway (`swerve gateway`), FastAPI in front of the Python SDK.

One app holds one ``swerve.client.Swerve`` (one producer, one delivery consumer) for every
request. An API key names its holder, roles and tenant: the tenant a request is judged under
comes from the key, never from the body. Each concern is one module::

    settings.py       GatewaySettings, from SWERVE_GATEWAY_* (the broker etc. come from Settings)
    api_keys.py       the keys file (SHA-256 digests), KeyRing
    key_source.py     the keys file, or the insecure development tenant
    authentication.py the dependency: key -> ApiKey, role, rate limit (401, 403, 429)
    rate_limit.py     each key's budget (the `limits` package)
    body_limit.py     the body cap, enforced while reading (413)
    request_body.py   JSON or multipart -> Submission (400, 415, 422)
    image_uri.py      an image_uri confined to the caller's tenant
    published.py      tenant-scoped request ids, and those this gateway published
    connection.py     the shared SDK client, started in the background; readiness
    moderations.py    publish, wait, answer (200 or 202), and look up (GET)
    responses.py      the response models
    problems.py       errors -> HTTP answers
    routes.py         the endpoints, thin
    app.py            create_app: the wiring
    server.py         uvicorn on a bound socket (port 0 gives the real port)

This package talks to Kafka only through ``swerve.client``, and never runs detectors or models.
"""

from __future__ import annotations

from swerve.gateway.api_keys import ApiKey, KeyRing, key_digest, new_key
from swerve.gateway.app import create_app
from swerve.gateway.settings import GatewaySettings

__all__ = ["ApiKey", "GatewaySettings", "KeyRing", "create_app", "key_digest", "new_key"]
