"""The JSON schemas STAC tools fetch from the web, served from local copies, for tests offline.

stac-api-validator (through stac-validator and stac-check) fetches each document's schema from
schemas.stacspec.org, its `$ref`s from geojson.org and the extensions' from
stac-extensions.github.io, and offers no option to read them elsewhere. This HTTPS proxy, which
a subprocess reaches through the standard HTTPS_PROXY variables, answers those requests from
local folders under a certificate of its own (trusted through REQUESTS_CA_BUNDLE and
SSL_CERT_FILE): the tools run as users run them, and nothing leaves the machine. A URL without
a local copy is a 404, and is recorded in `missing` so that a test can say which checks could
not be made.
"""

from __future__ import annotations

import http.server
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# The hosts the tools fetch schemas from; the certificate names them all.
SCHEMA_HOSTS = ("schemas.stacspec.org", "geojson.org", "stac-extensions.github.io")


@dataclass
class SchemaMirror:
    """URL prefixes and the folders holding their files; what was asked and not found."""

    folders: dict[str, Path]
    served: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def find(self, url: str) -> Path | None:
        for prefix, folder in self.folders.items():
            if url.startswith(prefix):
                path = (folder / url.removeprefix(prefix)).resolve()
                if path.is_relative_to(folder.resolve()) and path.is_file():
                    return path
        return None


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for SCHEMA_HOSTS (it is its own authority)."""
    cert, key = folder / "schemas-cert.pem", folder / "schemas-key.pem"
    names = ",".join(f"DNS:{host}" for host in SCHEMA_HOSTS)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={SCHEMA_HOSTS[0]}",
            "-addext", f"subjectAltName={names}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class _Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    context: ssl.SSLContext
    mirror: SchemaMirror


class _Tunnel(socketserver.StreamRequestHandler):
    """A CONNECT request: the tunnel is answered here, as the host it names, over TLS."""

    server: _Proxy

    def handle(self) -> None:
        request = self.rfile.readline().decode("latin-1").split()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        if len(request) < 2 or request[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        host = request[1].rsplit(":", 1)[0]
        try:
            tls = self.server.context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        handler = type("_HostFiles", (_Files,), {"host": host})
        try:
            handler(tls, self.client_address, self.server)
        finally:
            tls.close()


class _Files(http.server.BaseHTTPRequestHandler):
    host: str
    server: _Proxy  # type: ignore[assignment]

    def do_GET(self) -> None:
        url = f"https://{self.host}{self.path.split('?')[0]}"
        path = self.server.mirror.find(url)
        if path is None:
            self.server.mirror.missing.append(url)
            self.send_error(404, "no local copy")
            return
        self.server.mirror.served.append(url)
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def schema_proxy(mirror: SchemaMirror, workdir: Path) -> Iterator[dict[str, str]]:
    """Serves `mirror` while the block runs; yields the environment a subprocess needs to
    fetch schemas through it (loopback addresses bypass it)."""
    cert, key = _certificate(workdir)
    server = _Proxy(("127.0.0.1", 0), _Tunnel)
    server.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.context.load_cert_chain(cert, key)
    server.mirror = mirror
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{server.server_address[1]}"
    local = "127.0.0.1,localhost"
    try:
        yield {
            "HTTPS_PROXY": proxy,
            "https_proxy": proxy,
            "NO_PROXY": local,
            "no_proxy": local,
            "REQUESTS_CA_BUNDLE": str(cert),
            "SSL_CERT_FILE": str(cert),
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
