"""Limits on request bodies for every service: size (413) and JSON nesting depth (400).

Both are enforced on the bytes as they stream in, so a chunked body without Content-Length is
held to them too, and before any parser (json, orjson, pydantic) recurses into the document.
The depth check does not trust Content-Type: any body a JSON parser would read as an array or
an object is scanned, and one it would decode as UTF-16 or UTF-32 is refused (415), since the
APIs take UTF-8 JSON only (RFC 8259 §8.1) and the scan reads UTF-8.

FastAPI's own `max_body_size` is not used: for a Content-Length over the limit it answers
`text/plain`, where every refusal here is Problem Details.
"""

from __future__ import annotations

import json

import numpy as np
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from territoires.shared.errors import problem

WHITESPACE = b" \t\r\n"
UTF8_BOM = b"\xef\xbb\xbf"
# +1 for a byte opening an array or object, -1 for one closing it.
NESTING = np.zeros(256, dtype=np.int32)
NESTING[[ord("["), ord("{")]] = 1
NESTING[[ord("]"), ord("}")]] = -1


class JsonNesting:
    """The nesting depth of a JSON text fed in pieces, brackets inside strings not counted.

    Vectorised over each piece (numpy), so a body of nothing but brackets costs milliseconds.
    On a valid document the count is exact; past the first invalid byte it may be off, but no
    parser reads beyond that byte.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.deepest = 0
        self.in_string = False
        self.escaping = False  # the previous piece ended with an odd run of backslashes

    def feed(self, piece: bytes) -> None:
        data = np.frombuffer(piece, dtype=np.uint8)
        if not data.size:
            return
        index = np.arange(data.size, dtype=np.int32)
        backslash = data == ord("\\")
        # Index of the last byte that is not a backslash, up to each position; the run carried
        # over from the previous piece starts before index 0.
        start = -1 - int(self.escaping)
        last = np.maximum.accumulate(np.where(backslash, start, index))
        before = np.concatenate(([start], last[:-1]))
        escaped = ((index - 1 - before) & 1).astype(bool)
        quotes = np.cumsum((data == ord('"')) & ~escaped) + int(self.in_string)
        steps = np.where(quotes & 1, 0, NESTING[data])
        depths = self.depth + np.cumsum(steps, dtype=np.int64)
        self.deepest = max(self.deepest, int(depths.max()))
        self.depth = int(depths[-1])
        self.in_string = bool(quotes[-1] & 1)
        self.escaping = bool((data.size - 1 - last[-1]) & 1)


class _RefusedError(Exception):
    """Raised into the app from `receive` to stop it reading a body that broke a limit."""


class BodyGuard:
    """Counts a body's bytes and, when it is JSON-like, its nesting; says what it broke."""

    def __init__(self, max_bytes: int, max_depth: int) -> None:
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.size = 0
        self.head = b""  # the first bytes, until it is known whether this is JSON
        self.nesting: JsonNesting | None = None
        self.sniffing = True

    def feed(self, piece: bytes, last: bool) -> Response | None:
        self.size += len(piece)
        if self.size > self.max_bytes:
            return problem(413, f"the request body is larger than {self.max_bytes} bytes")
        if self.sniffing:
            self.head += piece
            piece = b""
            if len(self.head) < 4 and not last:
                return None
            self.sniffing = False
            encoding = json.detect_encoding(self.head[:4])
            if encoding not in ("utf-8", "utf-8-sig"):
                return problem(415, "JSON request bodies must be UTF-8")
            text = self.head.removeprefix(UTF8_BOM).lstrip(WHITESPACE)
            if text[:1] in (b"[", b"{"):
                self.nesting = JsonNesting()
            elif not text and not last:
                self.sniffing, self.head = True, b""  # only whitespace so far
                return None
            piece, self.head = self.head, b""
        if self.nesting is not None:
            self.nesting.feed(piece)
            if self.nesting.deepest > self.max_depth:
                return problem(400, f"the JSON body is nested deeper than {self.max_depth} levels")
        return None


class RequestLimitsMiddleware:
    """Refuses bodies over `max_bytes` (413) and JSON nested deeper than `max_depth` (400).

    A Content-Length over the limit is refused before reading; otherwise the app reads through
    the guard, which stops it at the first byte past a limit; whatever the app then answers
    (its parser's 400, a proxy's 503) is replaced by the limit's own Problem Details.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            refusal = problem(413, f"the request body is larger than {self.max_bytes} bytes")
            await refusal(scope, receive, send)
            return
        guard = BodyGuard(self.max_bytes, self.max_depth)
        refusal: Response | None = None
        app_started = refused_sent = False

        async def guarded_receive() -> Message:
            nonlocal refusal
            if refusal is not None:
                raise _RefusedError
            message = await receive()
            if message["type"] == "http.request":
                refusal = guard.feed(message.get("body", b""), not message.get("more_body"))
                if refusal is not None:
                    raise _RefusedError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal app_started, refused_sent
            if refusal is None or app_started:
                app_started = app_started or message["type"] == "http.response.start"
                await send(message)
            elif not refused_sent:
                refused_sent = True
                await refusal(scope, receive, send)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if refusal is None or app_started:
                raise
        if refusal is not None and not (app_started or refused_sent):
            await refusal(scope, receive, send)
