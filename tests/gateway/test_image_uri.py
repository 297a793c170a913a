"""A caller's image_uri: its own tenant's folder of the store, or an allowed base outside the
store, and nowhere else; checked on the text, before any I/O."""

from __future__ import annotations

import pytest

from swerve.errors import MediaUnreachableError
from swerve.gateway.image_uri import check_tenant_uri, tenant_bases
from swerve.streams.settings import Settings

STORE = "file:///srv/swerve/images"


def settings_with(bases: str | None = None) -> Settings:
    env = {"SWERVE_IMAGE_STORE_URI": STORE}
    if bases is not None:
        env["SWERVE_MEDIA_ALLOWED_URI_BASES"] = bases
    return Settings.from_env(env)


def test_given_the_default_bases_then_only_the_tenants_folder_of_the_store_is_offered() -> None:
    settings = settings_with()

    assert tenant_bases(settings, "acme") == (f"{STORE}/acme",)
    check_tenant_uri(f"{STORE}/acme/ab/abcd.png", settings, "acme")
    for uri in (f"{STORE}/beta/ab/abcd.png", f"{STORE}/ab/abcd.png", f"{STORE}/acme-evil/x.png",
                f"{STORE}/acme/../beta/x.png", "file:///etc/passwd", "s3://bucket/acme/x.png"):
        with pytest.raises(MediaUnreachableError, match="image reference"):
            check_tenant_uri(uri, settings, "acme")


def test_given_a_shared_base_outside_the_store_then_it_is_offered_and_one_holding_the_store_is_not() -> None:
    settings = settings_with(f"{STORE},file:///srv/uploads,file:///srv/swerve")

    assert tenant_bases(settings, "acme") == (f"{STORE}/acme", "file:///srv/uploads")
    check_tenant_uri("file:///srv/uploads/batch-7/x.png", settings, "acme")
    with pytest.raises(MediaUnreachableError):
        check_tenant_uri("file:///srv/swerve/other/x.png", settings, "acme")

