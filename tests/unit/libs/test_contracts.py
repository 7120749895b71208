"""The shared vocabulary: every event has a well-formed subject owned by a stream, and survives the wire."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from libs.contracts import EVENT_TYPES, STREAMS, Event, shop, stream_for

SUBJECT = re.compile(r"^(?P<service>[a-z][a-z_]*)\.(?P<aggregate>[a-z][a-z_]*)\.(?P<event>[a-z][a-z_]*)\.v[1-9][0-9]*$")
EVENTS = sorted(EVENT_TYPES.items())


def _all_event_classes() -> list[type[Event]]:
    found: list[type[Event]] = []
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.SUBJECT:
            found.append(cls)
    return found


def test_registry_holds_every_event_class_under_its_own_subject() -> None:
    classes = _all_event_classes()
    assert len(classes) == len(EVENT_TYPES), "two event classes share a subject"
    for cls in classes:
        assert EVENT_TYPES[cls.SUBJECT] is cls


@pytest.mark.parametrize(("subject", "cls"), EVENTS, ids=[s for s, _ in EVENTS])
def test_subject_is_well_formed_and_owned_by_its_services_stream(subject: str, cls: type[Event]) -> None:
    match = SUBJECT.match(subject)
    assert match, f"{cls.__name__}: {subject!r} is not <service>.<aggregate>.<event>.v<N>"
    stream = stream_for(subject)
    assert stream in STREAMS
    assert STREAMS[stream] == f"{match['service']}.>"


def test_streams_do_not_overlap_and_rpc_subjects_belong_to_none() -> None:
    prefixes = [pattern.removesuffix(".>") for pattern in STREAMS.values()]
    assert all(pattern.endswith(".>") for pattern in STREAMS.values())
    assert len(set(prefixes)) == len(prefixes)
    request_subjects = [v for k, v in vars(shop).items() if k.isupper() and isinstance(v, str)]
    assert request_subjects
    for subject in request_subjects:
        assert subject.startswith("rpc."), subject
        with pytest.raises(KeyError):
            stream_for(subject)
    with pytest.raises(KeyError):
        stream_for("nobody.thing.happened.v1")


def _sample(info: mi.Type) -> Any:
    """A valid value of a msgspec type, so each event can be built without knowing its fields."""
    match info:
        case mi.Metadata():
            return _sample(info.type)
        case mi.StrType():
            return "x" * max(info.min_length or 0, 3)
        case mi.IntType():
            if info.gt is not None:
                return info.gt + 1
            return info.ge if info.ge is not None else 7
        case mi.FloatType():
            return float(info.ge if info.ge is not None else (info.gt or 0) + 1)
        case mi.BoolType():
            return True
        case mi.DateTimeType():
            return dt.datetime(2025, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC)
        case mi.DateType():
            return dt.date(2025, 1, 2)
        case mi.UUIDType():
            return uuid.UUID(int=7)
        case mi.DecimalType():
            return Decimal("1.5")
        case mi.LiteralType():
            return info.values[0]
        case mi.EnumType():
            return next(iter(info.cls))
        case mi.ListType() | mi.SetType() | mi.FrozenSetType() | mi.VarTupleType():
            item = _sample(info.item_type)
            return [item] if isinstance(info, mi.ListType) else (item,) if isinstance(info, mi.VarTupleType) else {item}
        case mi.DictType():
            return {_sample(info.key_type): _sample(info.value_type)}
        case mi.UnionType():
            chosen = next((t for t in info.types if not isinstance(t, mi.NoneType)), info.types[0])
            return _sample(chosen)
        case mi.NoneType():
            return None
        case mi.StructType():
            return info.cls(**{f.name: _sample(f.type) for f in info.fields})
        case mi.AnyType():
            return {"any": 1}
    raise NotImplementedError(f"no sample for {info!r}")


def _instance(cls: type[Event]) -> Event:
    info = mi.type_info(cls)
    return cls(**{f.name: _sample(f.type) for f in info.fields if f.name not in ("event_id", "occurred_at")})


@pytest.mark.parametrize(("subject", "cls"), EVENTS, ids=[s for s, _ in EVENTS])
def test_event_round_trips_through_json_with_identity_and_time(subject: str, cls: type[Event]) -> None:
    first, second = _instance(cls), _instance(cls)
    assert first.event_id != second.event_id
    assert str(uuid.UUID(first.event_id)) == first.event_id
    assert first.occurred_at.tzinfo is not None
    assert first.occurred_at.utcoffset() == dt.timedelta(0)
    wire = msgspec.json.encode(first)
    assert msgspec.json.decode(wire, type=cls) == first
    assert msgspec.json.decode(wire, type=EVENT_TYPES[subject]) == first


@pytest.mark.parametrize(("subject", "cls"), EVENTS, ids=[s for s, _ in EVENTS])
def test_event_ignores_fields_it_does_not_know(subject: str, cls: type[Event]) -> None:
    # A newer producer may add fields; an older consumer must still read the event.
    event = _instance(cls)
    grown = msgspec.to_builtins(event) | {"added_in_a_later_version": {"x": [1, 2]}}
    assert msgspec.json.decode(msgspec.json.encode(grown), type=cls) == event


def test_ids_are_canonical_uuids_and_anything_else_names_nothing() -> None:
    from libs.ids import canonical_uuid, is_uuid

    assert canonical_uuid("3393F270-6A60-4840-A4E4-39427C2DA35F") == "3393f270-6a60-4840-a4e4-39427c2da35f"
    assert canonical_uuid("not-a-room") is None
    assert canonical_uuid(None) is None
    assert not is_uuid("1; DROP TABLE orders")
