"""Who may call the gateway: the keys file, or (development only) everyone as one tenant.

Without a keys file the gateway does not start. ``SWERVE_GATEWAY_INSECURE_DEV_TENANT`` (or
``--insecure-dev-tenant``) is the one way round that, for demos and local use: every request,
with or without a key, is that tenant's. It is refused on any host that is not a loopback
address, and logged as ``INSECURE`` at start. This module must never relax that refusal.
"""

from __future__ import annotations

import ipaddress
import logging

from swerve.errors import ConfigurationError

from swerve.gateway.api_keys import ApiKey, KeyRing, KeySource
from swerve.gateway.settings import GatewaySettings

__all__ = ["InsecureDevTenant", "key_source"]

log = logging.getLogger("swerve.gateway")


class InsecureDevTenant:
    """Development only: every request, with or without a key, speaks for ``tenant``.

    Args:
        tenant (`str`): the tenant of every request.
    """

    def __init__(self, tenant: str) -> None:
        # No key exists, so no digest either: the entry cannot match a keys file's.
        self.key = ApiKey(name="insecure-dev", sha256="0" * 64, roles=("producer", "reviewer"), tenants=(tenant,))

    def identify(self, presented: str | None) -> ApiKey | None:
        return self.key


def key_source(settings: GatewaySettings) -> KeySource:
    """Who may call this gateway: the keys file, or (development only) one tenant for all.

    Raises:
        ConfigurationError: neither is configured, the keys file is invalid, or the
            development tenant is asked for on an address other hosts can reach.
    """
    if settings.api_keys_file is not None:
        return KeyRing.load(settings.api_keys_file)
    if settings.insecure_dev_tenant is not None:
        if not _is_loopback(settings.host):
            raise ConfigurationError(
                f"SWERVE_GATEWAY_INSECURE_DEV_TENANT lets anyone in without a key: it is refused on host "
                f"{settings.host!r}; bind 127.0.0.1 (or ::1, localhost), or use SWERVE_GATEWAY_API_KEYS_FILE"
            )
        log.warning(
            "INSECURE: no API keys; every request to this gateway is tenant %r (SWERVE_GATEWAY_INSECURE_DEV_TENANT)",
            settings.insecure_dev_tenant,
        )
        return InsecureDevTenant(settings.insecure_dev_tenant)
    raise ConfigurationError(
        "the gateway has no API keys: set SWERVE_GATEWAY_API_KEYS_FILE (or --api-keys-file) to a keys file "
        "(`swerve gateway hash-key` makes entries); for local development only, "
        "SWERVE_GATEWAY_INSECURE_DEV_TENANT (or --insecure-dev-tenant NAME) makes every request that tenant's"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve anywhere
        return False
