"""A service behind the gateway hangs: the gateway answers 504 within its route's timeout, and
keeps no connection to the service once each request has ended."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from territoires.gateway.app import create_app as create_gateway
from territoires.gateway.proxy import ROUTES
from territoires.shared.settings import Settings

from ..servers import free_port, serve

pytestmark = pytest.mark.slow

SLACK_S = 5.0  # a loaded CI machine answers late, but not a route timeout late
TIMEOUT_S = next(r.timeout_s for r in ROUTES if r.prefix == "/territories")
STALLED_BODY = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"


class HangingService:
    """A TCP server that reads requests and never answers them (or, for paths containing
    `stall`, sends the headers and the first byte of the body, then nothing); it counts the
    connections still open."""

    def __init__(self) -> None:
        self.port = free_port()
        self.open = 0
        self.accepted = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.accepted += 1
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            if b"stall" in request.split(b"\r\n", 1)[0]:
                writer.write(STALLED_BODY)
                await writer.drain()
            while await reader.read(65536):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    def __enter__(self) -> HangingService:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def hanging() -> Iterator[HangingService]:
    with HangingService() as service:
        yield service


@pytest.fixture
def gateway(fault_settings: Settings, hanging: HangingService) -> Iterator[str]:
    """The gateway with the catalog behind it hanging."""
    settings = fault_settings.model_copy(
        update={"catalog_url": hanging.url, "compute_url": hanging.url, "tiles_url": hanging.url}
    )
    with serve(create_gateway(settings)) as url:
        yield url


def get(url: str, client_timeout_s: float) -> tuple[int | str, float]:
    """(the status, or "gave up" when the client's timeout came first, or "cut" when the
    response ended early; seconds taken)."""
    began = time.monotonic()
    try:
        status: int | str = httpx.get(url, timeout=client_timeout_s).status_code
    except httpx.TimeoutException:
        status = "gave up"
    except httpx.RemoteProtocolError:
        status = "cut"
    return status, time.monotonic() - began


def test_hanging_service_gets_504_in_time_and_no_connection_leaks(
    gateway: str, hanging: HangingService
) -> None:
    urls = [
        *[(f"{gateway}/territories/17300?n={n}", 60.0) for n in range(8)],  # patient clients
        *[(f"{gateway}/territories/17299?n={n}", 1.0) for n in range(4)],  # clients giving up
        *[(f"{gateway}/territories/stall?n={n}", 60.0) for n in range(4)],  # body never ends
    ]
    with ThreadPoolExecutor(len(urls)) as pool:
        results = list(pool.map(lambda case: get(*case), urls))
    print(results)
    assert hanging.accepted == len(urls)
    for (status, took), (url, _) in zip(results[:8], urls[:8], strict=True):
        assert status == 504, url
        assert TIMEOUT_S <= took < TIMEOUT_S + SLACK_S, (url, took)
    assert [status for status, _ in results[8:12]] == ["gave up"] * 4
    # Headers already sent: the gateway can only end the response early, at the read timeout.
    for status, took in results[12:]:
        assert status == "cut" and TIMEOUT_S <= took < TIMEOUT_S + SLACK_S, (status, took)
    deadline = time.monotonic() + SLACK_S
    while hanging.open and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hanging.open == 0, f"{hanging.open} connections to the service left open"
