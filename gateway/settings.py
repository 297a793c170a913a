"""Settings of the HTTP gateway, read from ``SWERVE_GATEWAY_*`` environment variables.

A pydantic-settings ``BaseSettings`` read like the workers' ``Settings``
(``swerve.streams.settings_source``: empty means unset, an invalid value names its variable).

The broker, the topic prefix, the image store and the media limits are not here: the gateway
reads them from ``swerve.streams.settings.Settings`` like every worker, so a gateway and the
workers it feeds cannot disagree on them. This module must never open a connection nor read
the keys file (``swerve.gateway.api_keys`` does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import limits
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from swerve.media import MediaLimits
from swerve.streams.settings_source import SwerveSettingsBase, configuration_error, environment, read_settings

__all__ = ["GatewaySettings", "TENANT_PATTERN"]

#: A tenant names a folder of the image store and a policy key: the event contract's rule.
TENANT_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$"

# Room for the fields beside the image in a body: prompts (4 KiB each), ids, multipart headers.
_BODY_OVERHEAD_BYTES = 64 * 1024


class GatewaySettings(SwerveSettingsBase):
    """How the gateway listens, whom it lets in, how long it waits and how much it reads.

    Args:
        host (`str`, defaults to ``"127.0.0.1"``): the address to bind.
        port (`int`, defaults to 8080): the port to bind; 0 picks a free one.
        api_keys_file (`Path`, *optional*): the keys file (YAML or JSON) mapping key digests to
            tenants and roles. Required unless ``insecure_dev_tenant`` is set.
        insecure_dev_tenant (`str`, *optional*): development only: no keys at all, every
            request is this tenant's. Refused together with ``api_keys_file`` and on a host
            that is not a loopback address.
        default_wait_s (`float`, defaults to 30.0): how long ``POST /v1/moderations`` waits
            for the outcome when the body names no ``timeout``.
        max_wait_s (`float`, defaults to 60.0): the most any request waits (a body's
            ``timeout`` or a ``GET``'s ``wait`` above it is lowered to it).
        retry_after_s (`int`, defaults to 1): the ``Retry-After`` of a pending (202) answer.
        rate_limit (`str`, defaults to ``"10/second"``): each key's request budget on
            ``/v1``, in the ``limits`` package's notation (``"100/minute"``,
            ``"5 per second"``); a key in the keys file may set its own.
        max_body_bytes (`int`, *optional*): the most a request body may hold; unset, derived
            from ``SWERVE_MEDIA_MAX_BYTES`` (see ``body_limit``).
        remembered_requests (`int`, defaults to 10,000): how many recent requests the
            gateway answers ``GET`` for, with their outcomes (the SDK's ``cache_size``).
    """

    model_config = SettingsConfigDict(env_prefix="SWERVE_GATEWAY_", frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=0, le=65535)
    api_keys_file: Path | None = None
    insecure_dev_tenant: str | None = Field(default=None, pattern=TENANT_PATTERN)
    default_wait_s: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    max_wait_s: float = Field(default=60.0, ge=0, allow_inf_nan=False)
    retry_after_s: int = Field(default=1, ge=1)
    rate_limit: str = "10/second"
    max_body_bytes: int | None = Field(default=None, ge=1024)
    remembered_requests: int = Field(default=10_000, ge=1)

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        check_rate_limit(value)
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> GatewaySettings:
        if self.default_wait_s > self.max_wait_s:
            raise ValueError(
                f"SWERVE_GATEWAY_DEFAULT_WAIT_S ({self.default_wait_s:g}) must not exceed "
                f"SWERVE_GATEWAY_MAX_WAIT_S ({self.max_wait_s:g})"
            )
        if self.api_keys_file is not None and self.insecure_dev_tenant is not None:
            raise ValueError(
                "SWERVE_GATEWAY_API_KEYS_FILE and SWERVE_GATEWAY_INSECURE_DEV_TENANT are both set: "
                "choose the keys file, or (development only) one tenant for every request"
            )
        return self

    def body_limit(self, media: MediaLimits) -> int:
        """The most bytes a request body may hold.

        ``max_body_bytes`` when set, else the largest image (``media.max_bytes``) as base64
        (4 characters per 3 bytes) plus room for the other fields.
        """
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return 4 * math.ceil(media.max_bytes / 3) + _BODY_OVERHEAD_BYTES


    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        """Read ``SWERVE_GATEWAY_<FIELD>`` variables from ``environ`` (default ``os.environ``);
        unset or empty ones keep their defaults.

        Raises:
            ConfigurationError: a value is invalid; the message names the variable.
        """
        return read_settings(cls, environ, "swerve gateway settings")

    @classmethod
    def checked(cls, values: dict[str, Any]) -> GatewaySettings:
        """Build the settings from ``values``, naming the variable of any invalid one.

        Raises:
            ConfigurationError: a value is invalid.
        """
        try:
            with environment({}):  # ``values`` and the defaults only, not os.environ
                return cls.model_validate(values)
        except ValidationError as exc:
            raise configuration_error(cls, exc, "swerve gateway settings") from exc


def check_rate_limit(value: str) -> limits.RateLimitItem:
    """The rate limit ``value`` names, e.g. ``"10/second"``.

    Raises:
        ValueError: ``value`` is not in the ``limits`` package's notation.
    """
    try:
        return limits.parse(value)
    except ValueError as exc:
        raise ValueError(
            f"rate limit {value!r} is not of the form '<count>/<second|minute|hour|day>', "
            f"e.g. '10/second' or '100 per minute' ({exc})"
        ) from exc
