"""Exports the event contracts as JSON Schema files and checks them for breaking changes.

``python -m swerve.streams.schema_export --write`` refreshes ``streams/schemas/*.json``;
``--check`` exits non-zero when the code no longer satisfies a committed schema: a field
removed, a field's type changed, or a new required field (old producers would break).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from swerve.streams.events import TOPIC_EVENTS

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schema_file_name(short_topic: str, version: int) -> str:
    return f"{short_topic}.v{version}.json"


def current_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema of every topic's event model, as the code defines it now."""
    schemas = {}
    for short, model in TOPIC_EVENTS.items():
        version = model.model_fields["schema_version"].default
        schemas[schema_file_name(short, version)] = model.model_json_schema(mode="serialization")
    return schemas


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return dict(defs[ref.removeprefix("#/$defs/")])
    return node


def type_signature(node: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """A comparable summary of a property's type: kinds, item types, enums; ignores docs."""
    node = _resolve(node, defs)
    if depth > 12:
        return "..."
    if "anyOf" in node or "oneOf" in node:
        options = [type_signature(o, defs, depth + 1) for o in node.get("anyOf", node.get("oneOf", []))]
        return ("union", sorted(json.dumps(o, sort_keys=True) for o in options))
    signature: dict[str, Any] = {"type": node.get("type")}
    for key in ("const", "enum", "format", "contentEncoding"):
        if key in node:
            signature[key] = node[key]
    if "items" in node:
        signature["items"] = type_signature(node["items"], defs, depth + 1)
    if "properties" in node:
        signature["properties"] = sorted(node["properties"])
    return signature


def _narrowed_enum(after: Any, before: Any) -> Any:
    """``after`` with its enum cut back to ``before``'s when it only added values.

    Adding an enum value (``rejected`` to a delivery's outcome) keeps every old event valid,
    so it is a compatible change; removing or renaming one is not. The same holds for an enum
    inside a union (an optional field: ``review`` added to ``reason_class``, an enum or null).
    """
    if isinstance(after, dict) and isinstance(before, dict) and "enum" in after and "enum" in before:
        if set(before["enum"]) <= set(after["enum"]):
            return {**after, "enum": before["enum"]}
    if _is_union(after) and _is_union(before):
        old_options = [json.loads(option) for option in before[1]]
        narrowed = []
        for option in (json.loads(option) for option in after[1]):
            match = next((old for old in old_options if isinstance(old, dict) and isinstance(option, dict)
                          and "enum" in old and old.get("type") == option.get("type")), None)
            narrowed.append(json.dumps(_narrowed_enum(option, match) if match is not None else option, sort_keys=True))
        return ("union", sorted(narrowed))
    return after


def _is_union(signature: Any) -> bool:
    return isinstance(signature, (tuple, list)) and len(signature) == 2 and signature[0] == "union"


def incompatibilities(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """Every way ``new`` breaks consumers or producers written against ``old``."""
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    problems: list[str] = []

    def walk(old_node: dict[str, Any], new_node: dict[str, Any], where: str, depth: int) -> None:
        old_node, new_node = _resolve(old_node, old_defs), _resolve(new_node, new_defs)
        if depth > 12:
            return
        old_props, new_props = old_node.get("properties", {}), new_node.get("properties", {})
        for name, old_prop in old_props.items():
            if name not in new_props:
                problems.append(f"{where}{name}: removed")
                continue
            before, after = type_signature(old_prop, old_defs), type_signature(new_props[name], new_defs)
            if json.dumps(before, sort_keys=True) != json.dumps(_narrowed_enum(after, before), sort_keys=True):
                problems.append(f"{where}{name}: type changed from {before} to {after}")
                continue
            walk(old_prop, new_props[name], f"{where}{name}.", depth + 1)
        newly_required = set(new_node.get("required", [])) - set(old_node.get("required", []))
        for name in sorted(newly_required):
            problems.append(f"{where}{name}: became required")

    walk(old, new, path, 0)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the current schemas to streams/schemas")
    parser.add_argument("--check", action="store_true", help="fail on incompatible changes against committed schemas")
    args = parser.parse_args(argv)
    schemas = current_schemas()
    if args.write:
        SCHEMA_DIR.mkdir(exist_ok=True)
        for name, schema in schemas.items():
            (SCHEMA_DIR / name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            print(f"wrote {SCHEMA_DIR / name}")
    status = 0
    if args.check:
        for name, schema in schemas.items():
            committed = SCHEMA_DIR / name
            if not committed.exists():
                print(f"{name}: not committed (run with --write)")
                status = 1
                continue
            for problem in incompatibilities(json.loads(committed.read_text(encoding="utf-8")), schema):
                print(f"{name}: {problem}")
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
