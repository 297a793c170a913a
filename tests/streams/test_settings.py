"""Settings come from SWERVE_* variables; bad values are a clear ConfigurationError."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

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


def test_given_a_mapping_then_only_it_is_read_not_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWERVE_TOPIC_PREFIX", "from-the-process")
    assert Settings.from_env({}).topic_prefix == "swerve"
    assert Settings.from_env().topic_prefix == "from-the-process"
    # Constructed directly it is a pydantic-settings BaseSettings: arguments, then os.environ.
    assert Settings().topic_prefix == "from-the-process" and Settings(topic_prefix="arg").topic_prefix == "arg"


def test_given_names_that_are_no_setting_then_they_are_ignored_as_before() -> None:
    settings = Settings.from_env({"SWERVE_WORKER_NO_SUCH_KNOB": "1", "SWERVE_MEDIA_NO_SUCH_LIMIT": "x",
                                  "SWERVE_GATEWAY_PORT": "1", "swerve_topic_prefix": "lower-case"})
    assert settings.topic_prefix == "swerve" and settings == Settings.from_env({})


def test_given_swerve_faiss_threads_then_settings_carry_it_for_the_index() -> None:
    assert Settings.from_env({}).faiss_threads is None, "unset: the CPU quota decides"
    assert Settings.from_env({"SWERVE_FAISS_THREADS": "3"}).faiss_threads == 3
    with pytest.raises(ConfigurationError, match="SWERVE_FAISS_THREADS"):
        Settings.from_env({"SWERVE_FAISS_THREADS": "0"})


class NestedKnobs(BaseModel):
    endpoint: str | None = None
    sample_ratio: float = 1.0
    names: tuple[str, ...] = ("a",)


class SettingsWithANewModel(Settings):
    tracing: NestedKnobs = NestedKnobs()


def test_given_a_nested_model_added_later_then_its_variables_are_read_with_no_code_of_its_own() -> None:
    settings = SettingsWithANewModel.from_env({"SWERVE_TRACING_ENDPOINT": "http://collector:4317",
                                               "SWERVE_TRACING_SAMPLE_RATIO": "0.25", "SWERVE_TRACING_NAMES": "b, c"})
    assert settings.tracing == NestedKnobs(endpoint="http://collector:4317", sample_ratio=0.25, names=("b", "c"))
    with pytest.raises(ConfigurationError, match="SWERVE_TRACING_SAMPLE_RATIO"):
        SettingsWithANewModel.from_env({"SWERVE_TRACING_SAMPLE_RATIO": "often"})
