"""A tiny incremental reader of one Server-Sent Events response over HTTP/1.1 (pure: bytes in, events out).

The feed benchmark holds thousands of these in one process, fed straight from `asyncio.Protocol.data_received`, so
it does only what a room feed needs: the status line and headers, chunked transfer coding (how uvicorn sends a body
of unknown length), and the SSE fields `event`, `data`, `id` (`retry` and comments are read past). A comment-only
block (the feed's `: keep-alive`) dispatches nothing, as in a browser.
"""

from __future__ import annotations

from typing import NamedTuple


class SseEvent(NamedTuple):
    """One dispatched event: its type (`message` when the block names none), data lines joined by \\n, last id."""

    event: str
    data: str
    id: str | None


class SseParser:
    """SSE framing (WHATWG "event stream interpretation"): lines end with CRLF, LF or CR; a blank line dispatches."""

    def __init__(self) -> None:
        self._buffer = b""
        self.last_id: str | None = None

    def feed(self, data: bytes) -> list[SseEvent]:
        """The events completed by `data` (the rest waits for more)."""
        buffer = self._buffer + data
        # A CR at the very end may be the first half of a CRLF split across two reads: keep it for later.
        held = b""
        if buffer.endswith(b"\r"):
            buffer, held = buffer[:-1], b"\r"
        buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events: list[SseEvent] = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            event = self._block(buffer[start:end])
            if event is not None:
                events.append(event)
            start = end + 2
        self._buffer = buffer[start:] + held
        return events

    def _block(self, block: bytes) -> SseEvent | None:
        kind = ""
        data: list[str] = []
        for raw in block.decode("utf-8", "replace").split("\n"):
            if not raw or raw.startswith(":"):
                continue
            name, colon, value = raw.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                kind = value
            elif name == "id" and "\0" not in value:
                self.last_id = value
        if not data:
            return None  # nothing to dispatch (a comment, or fields without data), as a browser does
        return SseEvent(kind or "message", "\n".join(data), self.last_id)


class ResponseError(ValueError):
    """The bytes are not an HTTP/1.1 response this reader understands."""


class SseResponse:
    """One HTTP/1.1 response carrying an event stream: `feed(bytes)` -> events; `status`, `headers`, `ended`."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.ended = False  # the body is over (last chunk, or content-length reached)
        self._head = b""
        self._pending = b""  # undecoded transfer-coded body bytes
        self._chunked = False
        self._left: int | None = None  # bytes left in the current chunk (chunked) or body (content-length)
        self._after_chunk = False  # a chunk's data is done: its CRLF comes next
        self.sse = SseParser()

    def feed(self, data: bytes) -> list[SseEvent]:
        """The events completed by `data`; ResponseError on a malformed head or chunk."""
        if self.status is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > 65536:
                    raise ResponseError("no end of the response head in 64 KiB")
                return []
            self._read_head(self._head[:end])
            data, self._head = self._head[end + 4 :], b""
        if self.ended:
            return []
        return self.sse.feed(self._body(data)) if data else []

    def _read_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ResponseError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                self.headers[name.strip().lower()] = value.strip()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        if not self._chunked and "content-length" in self.headers:
            self._left = int(self.headers["content-length"])
        self.status = int(code)

    def _body(self, data: bytes) -> bytes:
        """The body bytes in `data`, transfer coding removed."""
        if not self._chunked:
            if self._left is None:
                return data  # read until the connection closes
            data = data[: self._left]
            self._left -= len(data)
            self.ended = self._left == 0
            return data
        buffer = self._pending + data
        out: list[bytes] = []
        at = 0
        while at < len(buffer) and not self.ended:
            if self._after_chunk:
                if len(buffer) - at < 2:
                    break
                if buffer[at : at + 2] != b"\r\n":
                    raise ResponseError("a chunk does not end with CRLF")
                at += 2
                self._after_chunk = False
            elif self._left:
                piece = buffer[at : at + self._left]
                out.append(piece)
                at += len(piece)
                self._left -= len(piece)
                self._after_chunk = self._left == 0
            else:
                eol = buffer.find(b"\r\n", at)
                if eol < 0:
                    if len(buffer) - at > 1024:
                        raise ResponseError("a chunk size line longer than 1 KiB")
                    break
                size = buffer[at:eol].split(b";", 1)[0].strip()
                try:
                    self._left = int(size, 16)
                except ValueError:
                    raise ResponseError(f"bad chunk size {size[:20]!r}") from None
                at = eol + 2
                if self._left == 0:
                    self.ended = True  # the last chunk (trailers, if any, are not read)
        self._pending = buffer[at:] if not self.ended else b""
        return b"".join(out)
