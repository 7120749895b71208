"""The framework's own ceiling: a bare Litestar app answering `POST /echo`, served like a Liveloop service.

The flash-sale benchmark starts it beside the stack (same uvicorn settings as `liveloop serve`: one worker, uvloop and
httptools when installed, no access log; as many processes as live instances, loaded by the same wrk split) and
divides by its requests/s: what Liveloop's own `/echo` and the sale keep of what Litestar alone can do on this
machine, in the same run. No middleware, no auth, no telemetry: it decodes the small JSON body, answers a small JSON
object, and echoes `X-Request-ID` (the wrk script pairs each response with its request by it).

`python -m bench.bare --port 8199` serves it by itself.
"""

from __future__ import annotations

import argparse
from typing import Any

from litestar import Litestar, Request, Response, get, post


@post("/echo", status_code=200)
async def echo(request: Request, data: dict[str, Any]) -> Response[dict[str, Any]]:
    """The body's keys back, with the request id."""
    return Response(
        {"ok": True, "keys": sorted(data)}, headers={"x-request-id": request.headers.get("x-request-id", "")}
    )


@get("/ready", sync_to_thread=False)
def ready() -> dict[str, str]:
    """Up (what the bench waits for before loading it)."""
    return {"status": "ready"}


def create_app() -> Litestar:
    """The app (a factory, as `liveloop serve` loads the services)."""
    return Litestar([echo, ready], debug=False, logging_config=None, openapi_config=None)


def main(argv: list[str] | None = None) -> None:
    """Serve it with the settings `liveloop serve` uses."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8199)
    args = parser.parse_args(argv)
    uvicorn.run(
        "bench.bare:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
