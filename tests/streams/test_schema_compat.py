"""The exported JSON Schemas are the contract: the code must stay compatible with them."""

from __future__ import annotations

import copy
import json

from swerve.streams.schema_export import SCHEMA_DIR, current_schemas, incompatibilities


def test_given_committed_schemas_when_compared_to_the_code_then_nothing_is_broken() -> None:
    for name, schema in current_schemas().items():
        committed = SCHEMA_DIR / name
        assert committed.exists(), f"{name} is not committed; run `make schemas`"
        assert incompatibilities(json.loads(committed.read_text()), schema) == [], name


def test_given_committed_schemas_then_they_are_what_the_code_exports_today() -> None:
    # Compatible is not enough: a bound added in code (a pattern, a maximum) must reach the
    # published schema too, or producers validating against it accept what the worker refuses.
    for name, schema in current_schemas().items():
        assert json.loads((SCHEMA_DIR / name).read_text()) == schema, f"{name} is stale; run `make schemas`"


def test_given_a_removed_field_then_the_check_reports_it() -> None:
    old = current_schemas()["generations.v1.json"]
    new = copy.deepcopy(old)
    del new["properties"]["prompt"]
    assert incompatibilities(old, new) == ["prompt: removed"]


def test_given_a_retyped_field_then_the_check_reports_it() -> None:
    old = current_schemas()["generations.v1.json"]
    new = copy.deepcopy(old)
    new["properties"]["prompt"] = {"type": "integer"}
    assert [p.split(":")[0] for p in incompatibilities(old, new)] == ["prompt"]


def test_given_a_retyped_nested_field_then_the_check_reports_its_path() -> None:
    old = current_schemas()["generations.v1.json"]
    new = copy.deepcopy(old)
    new["$defs"]["ImageRef"]["properties"]["width"] = {"type": "string"}
    problems = incompatibilities(old, new)
    assert len(problems) == 1 and problems[0].startswith("image.width: type changed")


def test_given_a_new_required_field_then_the_check_reports_it_but_a_new_optional_one_is_fine() -> None:
    old = current_schemas()["delivery.v1.json"]
    optional = copy.deepcopy(old)
    optional["properties"]["extra"] = {"type": "string"}
    assert incompatibilities(old, optional) == []
    required = copy.deepcopy(optional)
    required["required"] = [*required["required"], "extra"]
    assert incompatibilities(old, required) == ["extra: became required"]


def test_given_an_enum_value_added_inside_an_optional_field_then_it_is_compatible_but_a_removed_one_is_not() -> None:
    new = current_schemas()["delivery.v1.json"]  # reason_class: an enum or null
    old = copy.deepcopy(new)
    [enum] = [option for option in old["properties"]["reason_class"]["anyOf"] if "enum" in option]
    enum["enum"] = [value for value in enum["enum"] if value != "review"]
    assert incompatibilities(old, new) == []
    assert [p.split(":")[0] for p in incompatibilities(new, old)] == ["reason_class"]
