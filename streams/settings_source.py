"""How swerve's settings classes read ``SWERVE_*`` variables: pydantic-settings, with swerve's rules.

``Settings`` (``streams/settings.py``) and ``GatewaySettings`` (``gateway/settings.py``) are
pydantic-settings ``BaseSettings``. Their variables are ``<env_prefix><FIELD>``, and a nested
model's are ``<env_prefix><MODEL>_<FIELD>`` (``env_nested_delimiter="_"`` split at most once,
so ``SWERVE_WORKER_DETECT_BATCH_SIZE`` is ``worker.detect_batch_size``). On top of
pydantic-settings' own environment source, ``SwerveEnvironment`` keeps the rules swerve has
always had:

- the variables come from any mapping (``from_env(environ)``; tests and the demo pass a dict),
  ``os.environ`` when none is given. pydantic-settings builds its sources inside the class's
  ``__init__`` (which ``model_validate`` calls too), so the mapping reaches the source through
  ``environment``, a context variable, rather than an argument;
- only the upper-case names count, and a value is stripped; an empty (or blank) one is unset;
- a tuple setting takes a comma-separated list (``s3, file``), not JSON;
- a variable that names no setting of a nested model is ignored, as an unset one.

``read_settings`` turns every invalid value into one ``ConfigurationError`` that names the
variable. This module must never open a connection nor read anything but the variables.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsError

from swerve.errors import ConfigurationError

__all__ = ["SwerveEnvironment", "SwerveSettingsBase", "configuration_error", "environment", "read_settings", "variable_name"]

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

# The variables settings built in this context read instead of os.environ (None: os.environ).
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("swerve_settings_environ", default=None)


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Settings constructed inside read ``variables`` instead of ``os.environ``."""
    token = _ENVIRON.set(variables)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def _is_tuple(annotation: Any) -> bool:
    """Whether ``annotation`` is ``tuple[...]``, alone or in a union (``tuple[str, ...] | None``)."""
    if get_origin(annotation) is tuple or annotation is tuple:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_tuple(member) for member in get_args(annotation))
    return False


class SwerveEnvironment(EnvSettingsSource):
    """pydantic-settings' environment source with the rules of the module docstring, over the
    variables of the enclosing ``environment``, else ``os.environ``.

    Args:
        settings_cls (`type[BaseSettings]`): the settings class; its ``model_config`` gives the
            prefix and the nesting.
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        variables = _ENVIRON.get()
        if variables is None:
            variables = os.environ
        # Replaces what the base class read from os.environ: keys lower-cased, as it expects
        # (case_sensitive is off), from the upper-case names only.
        self.env_vars = {name.lower(): value.strip() for name, value in variables.items()
                         if name.isupper() and value.strip()}

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        # pydantic-settings parses a complex value as JSON; swerve's tuples were always comma lists
        # (MediaLimits lives in swerve.media, which may not import pydantic-settings for NoDecode).
        if field is not None and _is_tuple(field.annotation):
            return tuple(item.strip() for item in str(value).split(",") if item.strip())
        return super().decode_complex_value(field_name, field, value)

    def explode_env_vars(self, field_name: str, field: FieldInfo, env_vars: Mapping[str, str | None]) -> dict[str, Any]:
        # A name that is no field would reach the nested model, and MediaLimits forbids extras:
        # drop it, as swerve always ignored unknown variables.
        exploded = super().explode_env_vars(field_name, field, env_vars)
        return {key: value for key, value in exploded.items() if self.next_field(field, key, self.case_sensitive) is not None}


def variable_name(settings_cls: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """The variable behind a validation error at ``loc``, e.g. ``SWERVE_WORKER_TOPIC_PARTITIONS``;
    None when the error has no field (a check across settings, whose message names them)."""
    names: list[str] = []
    model: Any = settings_cls
    for part in loc:
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        if part not in fields:
            break  # a tuple index or a type tag: the variable is the field before it
        names.append(str(part))
        annotation = fields[part].annotation
        model = next((member for member in (annotation, *get_args(annotation))
                      if isinstance(member, type) and issubclass(member, BaseModel)), None)
    if not names:
        return None
    return f"{settings_cls.model_config.get('env_prefix', '')}{'_'.join(names)}".upper()


def read_settings(settings_cls: type[SettingsT], environ: Mapping[str, str] | None, what: str) -> SettingsT:
    """``settings_cls`` from the variables in ``environ`` (``os.environ`` when None) and its defaults.

    Only ``environ`` is read: ``os.environ`` adds nothing when a mapping is given.

    Raises:
        ConfigurationError: ``invalid <what>: <VARIABLE>: <reason>; ...``.
    """
    try:
        with environment(os.environ if environ is None else environ):
            return settings_cls()
    except SettingsError as exc:  # a nested model's own variable (e.g. SWERVE_KAFKA) that is not JSON
        raise ConfigurationError(f"invalid {what}: {exc}") from exc
    except ValidationError as exc:
        raise configuration_error(settings_cls, exc, what) from exc


def configuration_error(settings_cls: type[BaseModel], exc: ValidationError, what: str) -> ConfigurationError:
    """``invalid <what>: <VARIABLE>: <reason>; ...`` for each error of ``exc``. A check across
    settings has no field: its message names the variables itself."""
    problems = []
    for error in exc.errors():
        name = variable_name(settings_cls, error["loc"])
        problems.append(f"{name}: {error['msg']}" if name else error["msg"])
    return ConfigurationError(f"invalid {what}: {'; '.join(problems)}")


class SwerveSettingsBase(BaseSettings):
    """The base of swerve's settings classes: arguments first, then the environment under
    ``SwerveEnvironment``'s rules; no .env file, no secrets folder."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, SwerveEnvironment(settings_cls)
