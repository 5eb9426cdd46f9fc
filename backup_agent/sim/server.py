"""HTTP plumbing: a threaded HTTP/1.1 server, latency, faults, basic auth, file streaming."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from backup_agent.sim.http import Request, Response, error, json_response, not_found
from backup_agent.sim.oauth import OAuthError

if TYPE_CHECKING:
    from backup_agent.sim.simulator import Simulator

log = logging.getLogger("backup_agent.sim")
SPOOL = 1024 * 1024
CHUNK = 1024 * 1024
HTML_PAGE = (b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
             b"<body><h1>Please sign in</h1></body></html>")
MALFORMED = b'{"meta": {"limit": 20, "next": null, "offset": 0, "total_count": 3}, "objects": [{"id": 1, '


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that goes away or fails the TLS handshake is normal life for a server
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Drop every open connection: a stopped simulator must not answer on kept-alive ones."""
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimHTTPServer
    timeout = 60  # idle keep-alive connections go away on their own
    disable_nagle_algorithm = True  # else small answers wait ~40 ms for a delayed ACK

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _serve(self) -> None:
        sim = self.server.sim
        if self._refused_before_body(sim):
            return
        request = self._read_request()
        try:
            response = self._dispatch(sim, request)
        except OSError as exc:  # its disk (a drill's simulator writes in the agent's storage)
            log.error("simulator route failed: %s %s: %s", request.method, request.path,
                      exc.strerror or exc)
            response = error(507, f"the simulator cannot store this: {exc.strerror or exc}")
        except Exception:  # a bug in a route must not kill the connection thread silently
            log.exception("simulator route failed: %s %s", request.method, request.path)
            response = error(500, "internal error in the simulator")
        finally:
            request.body.close()
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(response)

    def _refused_before_body(self, sim: Simulator) -> bool:
        """Answer 401 before reading a byte of the body, as a real node does: an
        unauthenticated client must not make the server spool its upload."""
        path = unquote(urlsplit(self.path).path)
        api = path.startswith("/api/")
        if not (path.startswith("/_sim/")
                or (api and sim.state.available and not sim.faults.armed_for(path))):
            return False
        if self._authorized(sim, api=api):
            return False
        sim.state.count_request(path)
        self.close_connection = True  # the body is left unread on the socket
        self._send(self._unauthorized())
        return True

    def _read_request(self) -> Request:
        split = urlsplit(self.path)
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - closed by _serve
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            length = self._read_chunked(body)  # a streamed upload (a generator in requests)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            self._copy(body, length)
        body.seek(0)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        method = "GET" if self.command == "HEAD" else self.command  # HEAD: a GET without the body
        return Request(method, unquote(split.path), split.path, query, self.headers, body, length)

    def _copy(self, body: Any, length: int) -> int:
        left = length
        while left > 0:
            part = self.rfile.read(min(CHUNK, left))
            if not part:
                break
            body.write(part)
            left -= len(part)
        return length - left

    def _read_chunked(self, body: Any) -> int:
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                return total
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return total
            total += self._copy(body, size)
            self.rfile.readline(16)  # the CRLF after each chunk

    def _dispatch(self, sim: Simulator, request: Request) -> Response:
        sim.state.count_request(request.path)
        if sim.opts.latency_ms:
            time.sleep(sim.opts.latency_ms / 1000.0)
        path = request.path
        if path.startswith("/_sim/"):
            if not self._authorized(sim):
                return self._unauthorized()
            return sim.control.handle(request)
        if not path.startswith(("/api/", "/oauth/")):
            return not_found(path)
        if not sim.state.available:  # down, or restarting its services after a restore
            if not sim.state.management_up and sim.state.down_mode == "close":
                return Response(drop=True)
            return Response(status=503, body=b"<html><body>503 Service Unavailable</body></html>",
                            content_type="text/html")
        fault = sim.faults.take(path)
        if fault is not None:
            return _fault_response(fault.kind, fault.status, fault.retry_after)
        if path == "/oauth/token/":
            return _token(sim, request)
        if not (self._authorized(sim, api=True)):
            return self._unauthorized()
        if not path.startswith("/api/"):
            return not_found(path)
        return sim.api.handle(request)

    def _authorized(self, sim: Simulator, api: bool = False) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if api and scheme.lower() == "bearer":
            return sim.oauth.check_bearer(value.strip())
        if scheme.lower() != "basic" or (api and sim.opts.basic_auth_disabled):
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        ok_user = hmac.compare_digest(user.encode(), sim.opts.username.encode())
        ok_pass = hmac.compare_digest(password.encode(), sim.opts.password.encode())
        return ok_user and ok_pass

    @staticmethod
    def _unauthorized() -> Response:
        response = error(401, "Authentication credentials were not provided or are not valid.")
        response.headers["WWW-Authenticate"] = 'Basic realm="Pexip Infinity API"'
        return response

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.file is not None:
            self._send_file(response)
            return
        self.send_header("Content-Length", str(len(response.body)))
        if self.command != "HEAD" and response.body:
            # headers and body in one write: one packet for small answers
            buffer: list[bytes] = self.__dict__["_headers_buffer"]  # stdlib's pending headers
            buffer.append(b"\r\n" + response.body)
            self.flush_headers()
        else:
            self.end_headers()

    def _send_file(self, response: Response) -> None:
        assert response.file is not None
        offset = response.file_offset
        length = response.file_size - offset
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        cut = self.server.sim.faults.take_cut() if response.download else None
        count = length if cut is None else min(cut, length)
        with open(response.file, "rb") as stream:
            sent = 0
            while sent < count:  # sendfile: zero-copy, so a 1 GiB download costs no memory
                n = self.connection.sendfile(stream, offset + sent, count - sent)
                if n == 0:
                    break
                sent += n
        if cut is not None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


def _token(sim: Simulator, request: Request) -> Response:
    if request.method != "POST":
        return Response(status=405, headers={"Allow": "POST"})
    form = dict(parse_qsl(request.read_body(64 * 1024).decode("utf-8", "replace")))
    try:
        # the audience is the token URL as the client addressed it (IP or name, same port)
        host = request.headers.get("Host") or sim.url.split("//", 1)[1]
        scheme = "https" if sim.opts.tls else "http"
        return json_response(sim.oauth.token(form, f"{scheme}://{host}/oauth/token/"))
    except OAuthError as exc:
        return json_response({"error": exc.code, "error_description": str(exc)}, status=exc.status)


def _fault_response(kind: str, status: int, retry_after: int | None) -> Response:
    if kind == "html":
        return Response(status=200, body=HTML_PAGE, content_type="text/html; charset=utf-8")
    if kind == "malformed":
        return Response(status=200, body=MALFORMED)
    response = error(status, "Too many requests" if status == 429 else "Service unavailable"
                     if status == 503 else f"simulated error {status}")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
