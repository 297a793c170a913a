"""Settings come from SWERVE_* variables; bad values are a clear ConfigurationError."""

from __future__ import annotations

import pytest

from swerve.errors import ConfigurationError
from swerve.streams.app import faust_broker_url
from swerve.streams.settings import Settings


def test_given_no_variables_then_defaults_suit_the_embedded_broker() -> None:
    settings = Settings.from_env({})
    assert settings.kafka.bootstrap == "127.0.0.1:9092"
    assert settings.topic_prefix == "swerve"
    assert settings.kafka.aiokafka_kwargs()["security_protocol"] == "PLAINTEXT"


def test_given_swerve_kafka_bootstrap_then_every_client_uses_it() -> None:
    settings = Settings.from_env({"SWERVE_KAFKA_BOOTSTRAP": "k1:9093,k2:9093", "SWERVE_TOPIC_PREFIX": "acme"})
    assert settings.kafka.aiokafka_kwargs()["bootstrap_servers"] == "k1:9093,k2:9093"
    assert faust_broker_url(settings.kafka.bootstrap) == "kafka://k1:9093;kafka://k2:9093"


def test_given_sasl_settings_then_they_pass_through_to_aiokafka() -> None:
    settings = Settings.from_env({
        "SWERVE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SWERVE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "SWERVE_KAFKA_SASL_USERNAME": "svc",
        "SWERVE_KAFKA_SASL_PASSWORD": "s3cret",
    })
    kwargs = settings.kafka.aiokafka_kwargs()
    assert (kwargs["sasl_mechanism"], kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("SCRAM-SHA-512", "svc", "s3cret")
    assert "s3cret" not in repr(settings), "secrets never print"


def test_given_sasl_without_a_mechanism_then_it_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="SASL_MECHANISM"):
        Settings.from_env({"SWERVE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}).kafka.aiokafka_kwargs()


def test_given_an_invalid_value_then_the_error_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="SWERVE_WORKER_TOPIC_PARTITIONS"):
        Settings.from_env({"SWERVE_WORKER_TOPIC_PARTITIONS": "many"})


def test_given_empty_variables_then_they_mean_unset() -> None:
    settings = Settings.from_env({"SWERVE_KAFKA_SASL_MECHANISM": "", "SWERVE_WORKER_WEB_PORT": " ", "SWERVE_TOPIC_PREFIX": ""})
    assert settings.kafka.sasl_mechanism is None and settings.worker.web_port is None and settings.topic_prefix == "swerve"


def test_given_a_comma_list_then_tuple_settings_accept_it() -> None:
    settings = Settings.from_env({"SWERVE_MEDIA_ALLOWED_URI_SCHEMES": "s3, file", "SWERVE_MEDIA_ALLOWED_MEDIA_TYPES": "image/png"})
    assert settings.media.allowed_uri_schemes == ("s3", "file")
    assert settings.media.allowed_media_types == ("image/png",)


def test_given_a_mechanism_swerve_cannot_pass_credentials_for_then_it_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="SASL_MECHANISM"):
        Settings.from_env({"SWERVE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SWERVE_KAFKA_SASL_MECHANISM": "GSSAPI"})
