"""Only our baggage keys, with id-like values, survive the trip in from a client."""

from opentelemetry import baggage, trace

from libs.telemetry import capture_headers, context_from, names

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_room_id_from_a_client_is_kept_and_everything_else_is_dropped() -> None:
    ctx = context_from(
        {
            "traceparent": TRACEPARENT,
            "baggage": f"{names.ROOM_ID}=3393f270-6a60-4840-a4e4-39427c2da35f,evil=1,{names.VIDEO_ID}=%3Cscript%3E,"
            + "junk="
            + "x" * 3000,
        }
    )
    assert baggage.get_all(ctx) == {names.ROOM_ID: "3393f270-6a60-4840-a4e4-39427c2da35f"}
    # The trace itself is untouched by the filtering.
    assert format(trace.get_current_span(ctx).get_span_context().trace_id, "032x") == TRACEPARENT[3:35]


def test_overlong_room_id_is_dropped() -> None:
    ctx = context_from({"baggage": f"{names.ROOM_ID}={'a' * 65}"})
    assert baggage.get_all(ctx) == {}


def test_our_own_headers_round_trip() -> None:
    from opentelemetry import context

    token = context.attach(baggage.set_baggage(names.ROOM_ID, "room-7"))
    try:
        headers = capture_headers()
    finally:
        context.detach(token)
    assert baggage.get_all(context_from(headers)) == {names.ROOM_ID: "room-7"}
