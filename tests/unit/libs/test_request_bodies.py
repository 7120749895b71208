"""Every HTTP request body refuses fields it does not know (as Stripe does), while events on the bus stay tolerant.

A client's typo (`price_minor` in a checkout line) must be a 400 naming the field, not silently dropped; an event
from a newer producer with a field this consumer does not know yet must still be read (contracts only grow).
"""

from __future__ import annotations

import importlib
import inspect
import typing

import msgspec
import pytest

from libs import contracts
from tests.harness import SERVICES


def _structs_in(info: msgspec.inspect.Type, seen: set[type]) -> None:
    """Every Struct type reachable from `info` (fields, list items, unions), into `seen`."""
    if isinstance(info, msgspec.inspect.StructType):
        if info.cls in seen:
            return
        seen.add(info.cls)
        for f in info.fields:
            _structs_in(f.type, seen)
    for attr in ("item_type", "item_types", "types", "key_type", "value_type"):
        inner = getattr(info, attr, None)
        for each in inner if isinstance(inner, tuple) else (inner,) if inner is not None else ():
            _structs_in(each, seen)


def request_bodies() -> dict[str, set[type]]:
    """Per route (`service METHOD path`), the Struct types its request body is decoded into, nested ones included."""
    bodies: dict[str, set[type]] = {}
    for service in SERVICES:
        spec = importlib.import_module(f"services.{service}.app").SPEC
        for handler in spec.routes:
            hints = typing.get_type_hints(handler.fn, include_extras=True)
            if "data" not in inspect.signature(handler.fn).parameters:
                continue
            found: set[type] = set()
            _structs_in(msgspec.inspect.type_info(hints["data"]), found)
            for method in sorted(handler.http_methods):
                bodies[f"{service} {method} {' '.join(sorted(handler.paths))}"] = found
    return bodies


BODIES = request_bodies()


def test_the_walk_finds_the_request_bodies_of_every_service() -> None:
    assert {key.split()[0] for key in BODIES} >= {"shop", "orders", "live"}
    assert len(BODIES) >= 15
    assert all(BODIES.values()), [key for key, structs in BODIES.items() if not structs]


@pytest.mark.parametrize("route", sorted(BODIES))
def test_every_request_body_refuses_unknown_fields(route: str) -> None:
    tolerant = sorted(s.__qualname__ for s in BODIES[route] if not s.__struct_config__.forbid_unknown_fields)
    assert tolerant == [], f"{route}: declare these with forbid_unknown_fields=True"


def test_no_request_body_is_an_event_contract() -> None:
    used_as_bodies = set().union(*BODIES.values())
    assert [s for s in used_as_bodies if s.__module__.startswith(contracts.__name__)] == []


def test_event_contracts_stay_tolerant_of_fields_they_do_not_know() -> None:
    structs = [
        value
        for value in vars(contracts).values()
        if isinstance(value, type) and issubclass(value, msgspec.Struct) and value is not msgspec.Struct
    ]
    assert structs
    assert [s.__name__ for s in structs if s.__struct_config__.forbid_unknown_fields] == []
