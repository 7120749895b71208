"""The wire format of every event and request, pinned by a JSON sample of each as it was encoded before the
contracts were split by producing service: a consumer built today still reads what was published then."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from libs.contracts import EVENT_TYPES, live, local, shop

SAMPLES = Path(__file__).with_name("contract_samples")
# Request/reply messages are named `rpc.<Class>.json`: they have no subject of their own.
REQUESTS = (
    "ReserveItem",
    "ReserveStock",
    "ReservedLine",
    "ReserveStockReply",
    "AllocateStock",
    "AllocateStockReply",
    "ExchangeStock",
    "ExchangeStockReply",
)
LIVE_REQUESTS = (
    "RoomSource",
    "VerifyRoomSources",
    "VerifyRoomSourcesReply",
    "VideoSource",
    "VerifyVideoSources",
    "VerifyVideoSourcesReply",
)
LOCAL_REQUESTS = ("ReserveDealItem", "ReserveDeals", "ReservedDeal", "ReserveDealsReply")
TYPES: dict[str, type] = {
    **EVENT_TYPES,
    **{f"rpc.{name}": getattr(shop, name) for name in REQUESTS},
    **{f"rpc.{name}": getattr(live, name) for name in LIVE_REQUESTS},
    **{f"rpc.{name}": getattr(local, name) for name in LOCAL_REQUESTS},
}


def test_every_event_and_request_has_a_sample_and_every_sample_a_type() -> None:
    stored = {path.stem for path in SAMPLES.glob("*.json")}
    assert stored == set(TYPES), f"missing samples: {set(TYPES) - stored}; samples of nothing: {stored - set(TYPES)}"


@pytest.mark.parametrize("name", sorted(TYPES))
def test_sample_decodes_and_encodes_back_to_the_same_bytes(name: str) -> None:
    sample = (SAMPLES / f"{name}.json").read_bytes()
    decoded = msgspec.json.decode(sample, type=TYPES[name])
    # Same fields, same order, same values: what a producer sends today is what it sent then.
    assert msgspec.json.encode(decoded) == msgspec.json.encode(msgspec.json.decode(sample))
