"""Turn a CustomResourceDefinition's openAPIV3Schema into a strict JSON Schema file, one per served version.

    python infra/k8s/schemas/crd_to_jsonschema.py postgresql.cnpg.io_clusters.yaml infra/k8s/schemas

writes `<dir>/<group>/<kind>_<version>.json` (the layout of the CRDs-catalog that kubeconform reads). Strict like
`kubernetes-validate --strict` for built-in kinds: an object that lists its properties refuses any other, unless the
CRD says `x-kubernetes-preserve-unknown-fields` or gives `additionalProperties`. The OpenAPI extensions JSON Schema
does not know become JSON Schema (`x-kubernetes-int-or-string`, `nullable`); descriptions are dropped (most of the
bytes, no part of validation). CEL rules (`x-kubernetes-validations`) are dropped: an API server enforces them,
these files do not (infra/k8s/README.md, "What is not covered").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

_DROPPED = {"description", "x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys"}
_DROPPED |= {"x-kubernetes-map-type", "x-kubernetes-embedded-resource", "example", "externalDocs"}


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema for one OpenAPI v3 schema node of a CRD (and everything below it)."""
    node: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED or key in ("nullable", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields"):
            continue
        if key == "properties":
            node[key] = {name: strict(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            node[key] = strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            node[key] = [strict(child) for child in value]
        else:
            node[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}, *node.get("anyOf", [])]
    open_ended = "additionalProperties" in node or schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node and not open_ended:
        node["additionalProperties"] = False
    if schema.get("nullable") and "type" in node:
        node["type"] = [node["type"], "null"]
    return node


def convert(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """File name (`<kind>_<version>.json`) -> JSON Schema, for each version the CRD serves."""
    kind = crd["spec"]["names"]["kind"].lower()
    out = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        schema = strict(version["schema"]["openAPIV3Schema"])
        # Every object has these three whatever its CRD says; metadata is the API server's to check.
        schema["properties"]["apiVersion"] = {"enum": [f"{crd['spec']['group']}/{version['name']}"]}
        schema["properties"]["kind"] = {"enum": [crd["spec"]["names"]["kind"]]}
        schema["properties"]["metadata"] = {"type": "object"}
        schema["required"] = sorted({"apiVersion", "kind", *schema.get("required", [])})
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[f"{kind}_{version['name']}.json"] = schema
    return out


def main(argv: list[str]) -> int:
    """Convert each CRD file given into the output directory (the last argument)."""
    *sources, target = argv
    for source in sources:
        for crd in yaml.safe_load_all(Path(source).read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group_dir = Path(target) / crd["spec"]["group"]
            group_dir.mkdir(parents=True, exist_ok=True)
            for name, schema in convert(crd).items():
                (group_dir / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                print(group_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
