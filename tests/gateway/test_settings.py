"""GatewaySettings from SWERVE_GATEWAY_*: defaults, overrides, and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from swerve.errors import ConfigurationError
from swerve.gateway import GatewaySettings
from swerve.media import MediaLimits


def test_given_no_variables_then_the_defaults_hold() -> None:
    settings = GatewaySettings.from_env({})
    assert (settings.host, settings.port, settings.api_keys_file, settings.insecure_dev_tenant) == ("127.0.0.1", 8080, None, None)
    assert (settings.default_wait_s, settings.max_wait_s, settings.rate_limit) == (30.0, 60.0, "10/second")


def test_given_variables_then_they_are_read_and_empty_ones_ignored() -> None:
    settings = GatewaySettings.from_env({
        "SWERVE_GATEWAY_HOST": "0.0.0.0", "SWERVE_GATEWAY_PORT": "0", "SWERVE_GATEWAY_API_KEYS_FILE": "/etc/swerve/keys.yaml",
        "SWERVE_GATEWAY_DEFAULT_WAIT_S": "5", "SWERVE_GATEWAY_MAX_WAIT_S": "20", "SWERVE_GATEWAY_RATE_LIMIT": "100/minute",
        "SWERVE_GATEWAY_MAX_BODY_BYTES": "1048576", "SWERVE_GATEWAY_RETRY_AFTER_S": "3", "SWERVE_GATEWAY_REMEMBERED_REQUESTS": " ",
    })
    assert (settings.host, settings.port, settings.api_keys_file) == ("0.0.0.0", 0, Path("/etc/swerve/keys.yaml"))
    assert (settings.default_wait_s, settings.max_wait_s, settings.rate_limit, settings.retry_after_s) == (5.0, 20.0, "100/minute", 3)
    assert settings.body_limit(MediaLimits()) == 1_048_576 and settings.remembered_requests == 10_000


def test_given_no_body_cap_then_it_is_the_largest_image_as_base64_with_room_for_fields() -> None:
    limit = GatewaySettings().body_limit(MediaLimits(max_bytes=3 * 1024 * 1024, max_inline_bytes=1024))
    assert limit == 4 * 1024 * 1024 + 64 * 1024


@pytest.mark.parametrize(("variables", "named"), [
    ({"SWERVE_GATEWAY_PORT": "70000"}, "SWERVE_GATEWAY_PORT"),
    ({"SWERVE_GATEWAY_RATE_LIMIT": "often"}, "SWERVE_GATEWAY_RATE_LIMIT"),
    ({"SWERVE_GATEWAY_INSECURE_DEV_TENANT": "../x"}, "SWERVE_GATEWAY_INSECURE_DEV_TENANT"),
    ({"SWERVE_GATEWAY_DEFAULT_WAIT_S": "90"}, "SWERVE_GATEWAY_MAX_WAIT_S"),
    ({"SWERVE_GATEWAY_API_KEYS_FILE": "k.yaml", "SWERVE_GATEWAY_INSECURE_DEV_TENANT": "demo"}, "both set"),
    ({"SWERVE_GATEWAY_MAX_WAIT_S": "nan"}, "SWERVE_GATEWAY_MAX_WAIT_S"),
])
def test_given_an_invalid_value_then_the_error_names_the_variable(variables: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid swerve gateway settings") as raised:
        GatewaySettings.from_env(variables)
    assert named in str(raised.value)
