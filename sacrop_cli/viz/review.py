"""The server of ``sacrop review``: a page on 127.0.0.1 where a person corrects the crops.

Standard library only (``http.server`` on a ``ThreadingHTTPServer``). It serves the static
page of ``review_page/``, the records a page at a time (``GET /api/photos``), a thumbnail per
photo (``GET /thumb/N.jpg``, and a larger one for the photo selected, ``GET /view/N.jpg``: never
the photo itself) and takes one change at a time
(``POST /api/change``), saved to FILE before the answer (:mod:`review_records`).

Only the person who started it may use it: every request needs the random token, in the
cookie (or, for scripts, the query), else 403, and a Host of 127.0.0.1 or localhost (else 403:
a web page whose name was rebound to 127.0.0.1 cannot read it); a change coming from another
page (its Origin) is refused too. The token itself is never in an address sacrop prints or
hands to a browser (whose command line every local user can read): those hold a one-time code,
which the first request exchanges for the cookie (a redirect to ``/``), then dead. Sacrop's
cookie is found in the Cookie header on its own, whatever other cookies of 127.0.0.1 it holds.
Photos are addressed by their number among those given on the command line, never by a path.

A request that is not one (a body that is not a small bounded JSON object, a number out of
range) is one 4xx answer; connections idle for :data:`TIMEOUT` seconds are closed, and at most
:data:`MAX_CONNECTIONS` are served at once.
"""

from __future__ import annotations

import hmac
import io
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from sacrop_cli.errors import SacropError, one_line
from sacrop_cli.io.jsonl import parse_line
from sacrop_cli.viz.review_records import ReviewSession
from sacrop_cli.viz.sheet_layout import JPEG_QUALITY, thumbnail_loader

#: Long side of the thumbnails sent to the browser, in pixels.
THUMB_SIDE = 640
#: Long side of the selected photo's image (``GET /view/N.jpg``), shown as large as the window.
VIEW_SIDE = 1600
#: Thumbnails kept encoded in memory (the page's photos and the ones before and after).
THUMB_CACHE = 128
#: The most photos one ``/api/photos`` answer holds.
MAX_PAGE = 100
_MAX_BODY = 64 * 1024
#: Seconds a connection may stay idle (or send its request slowly) before it is closed.
TIMEOUT = 30
#: Connections served at once (a thread each; a browser opens about 6): more are closed.
MAX_CONNECTIONS = 64
_THUMB = re.compile(r"/(thumb|view)/([0-9]{1,9})\.jpg")
_PAGE_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/review.js": ("review.js", "text/javascript; charset=utf-8"),
    "/review.css": ("review.css", "text/css; charset=utf-8"),
}
_LOCAL_NAMES = ("127.0.0.1", "localhost")
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _page_files() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("sacrop_cli.viz") / "review_page"
    return {url: ((folder / name).read_bytes(), kind) for url, (name, kind) in _PAGE_FILES.items()}


class ReviewServer(ThreadingHTTPServer):
    """The review's HTTP server on 127.0.0.1 (``port`` 0: any free port)."""

    daemon_threads = True

    def __init__(self, session: ReviewSession, port: int = 0, *, max_pixels: int | None = None):
        try:
            super().__init__(("127.0.0.1", port), _Handler)
        except OSError as err:
            reason = err.strerror or err
            raise SacropError(f"127.0.0.1:{port}: cannot serve the review: {reason}") from None
        self.session = session
        self.token = secrets.token_urlsafe(24)
        self.cookie = f"sacrop_review_{self.server_port}"
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._codes: set[str] = set()
        self._codes_lock = threading.Lock()
        self.files = _page_files()
        self._thumbnail = thumbnail_loader(THUMB_SIDE, max_pixels)
        self._view = thumbnail_loader(VIEW_SIDE, max_pixels)
        self._thumbs: OrderedDict[tuple[int, bool], bytes] = OrderedDict()
        self._thumbs_lock = threading.Lock()

    @property
    def url(self) -> str:
        """A new address of the page, with a new one-time code (each read makes one)."""
        code = secrets.token_urlsafe(24)
        with self._codes_lock:
            self._codes.add(code)
        return f"http://127.0.0.1:{self.server_port}/?code={code}"

    def redeem(self, code: str) -> bool:
        """Whether ``code`` is one of the addresses' codes not used yet; it is used now."""
        with self._codes_lock:
            for known in self._codes:
                if hmac.compare_digest(code.encode(), known.encode()):
                    self._codes.discard(known)
                    return True
        return False

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection while fewer than :data:`MAX_CONNECTIONS` are open (idle
        ones need no token: they must not hold a thread each without bound); else closed."""
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a connection the browser dropped while answered is no error of the review's
        (every request error is answered in the handler)."""

    def thumbnail(self, index: int, large: bool = False) -> bytes | None:
        """The JPEG thumbnail of a given photo (``large``: :data:`VIEW_SIDE`; None: not one),
        kept for the next requests."""
        record = self.session.servable(index)
        if record is None:
            return None
        key = (index, large)
        with self._thumbs_lock:
            if key in self._thumbs:
                self._thumbs.move_to_end(key)
                return self._thumbs[key]
        buf = io.BytesIO()
        image: Image.Image = (self._view if large else self._thumbnail)(record)
        image.convert("RGB").save(buf, "JPEG", quality=JPEG_QUALITY)
        with self._thumbs_lock:
            self._thumbs[key] = buf.getvalue()
            while len(self._thumbs) > THUMB_CACHE:
                self._thumbs.popitem(last=False)
        return buf.getvalue()


def serve(server: ReviewServer, on_stop: Callable[[], None] | None = None) -> None:
    """Serve until Ctrl-C (or ``server.shutdown()``); then wait for the change being saved and
    refuse later ones, so that FILE is complete when the process ends."""
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        if on_stop is not None:
            on_stop()
    finally:
        server.server_close()
        server.session.close()


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "sacrop-review"
    sys_version = ""
    _set_cookie = False  # the token came in the query: the answer sets the cookie
    timeout = TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: standard error is the command's own."""

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    # -- checks --------------------------------------------------------------------------
    def _local_host(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        return name in _LOCAL_NAMES and port in ("", str(self.server.server_port))

    def _token(self) -> str | None:
        """The token this request carries when it is the right one: from the query or the
        cookie; None otherwise."""
        query = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
        cookie = self._cookie()
        for given in (query, cookie):
            if given and hmac.compare_digest(given.encode(), self.server.token.encode()):
                return "query" if given is query else "cookie"
        return None

    def _cookie(self) -> str:
        """Sacrop's cookie, read on its own: other applications of 127.0.0.1 set cookies that
        Python's parser refuses (``theme=dark mode``, ``a={"k":1}``), dropping the whole
        header."""
        for header in self.headers.get_all("Cookie") or ():
            for pair in header.split(";"):
                name, sep, value = pair.strip().partition("=")
                if sep and name.strip() == self.server.cookie:
                    return value.strip().strip('"')
        return ""

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        port = self.server.server_port
        return origin is None or origin in {f"http://{n}:{port}" for n in _LOCAL_NAMES}

    def _handle(self, route: Callable[[str], None]) -> None:
        """Check the request, then answer it: whatever goes wrong is one answer, never a
        traceback on the command's standard error."""
        try:
            self._checked(route)
        except TimeoutError:  # a body announced longer than it is
            self._json(HTTPStatus.REQUEST_TIMEOUT, {"error": "the request came too slowly"})
            self.close_connection = True
        except (ValueError, RecursionError, UnicodeError, OverflowError) as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": one_line(err)})
        except Exception as err:  # noqa: BLE001 - one answer, and the server goes on
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": one_line(err)})

    def _checked(self, route: Callable[[str], None]) -> None:
        if not self._local_host():
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: not a local Host\n", "text/plain")
            return
        code = parse_qs(urlsplit(self.path).query).get("code")
        if code is not None and self.command == "GET" and urlsplit(self.path).path == "/":
            self._exchange(code[0])
            return
        carried = self._token()
        if carried is None:
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: no valid token\n", "text/plain")
            return
        self._set_cookie = carried == "query"
        route(urlsplit(self.path).path)

    def _exchange(self, code: str) -> None:
        """A one-time code for the cookie, and on to the page without it in the address."""
        if not self.server.redeem(code):
            message = b"forbidden: this address was used already (its code works once)\n"
            self._send(HTTPStatus.FORBIDDEN, message, "text/plain")
            return
        self._set_cookie = True
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", location="/")

    # -- routes --------------------------------------------------------------------------
    def _get(self, path: str) -> None:
        if path in self.server.files:
            body, kind = self.server.files[path]
            self._send(HTTPStatus.OK, body, kind)
        elif path == "/api/photos":
            query = parse_qs(urlsplit(self.path).query)
            try:
                offset = int(query.get("offset", ["0"])[0])
                limit = min(MAX_PAGE, int(query.get("limit", ["20"])[0]))
            except ValueError:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "offset and limit are numbers"})
                return
            self._json(HTTPStatus.OK, self.server.session.page(offset, limit))
        elif match := _THUMB.fullmatch(path):
            self._thumb(match[2], large=match[1] == "view")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _thumb(self, number: str, large: bool = False) -> None:
        try:
            thumb = self.server.thumbnail(int(number), large)
        except (SacropError, OSError) as err:
            self._send(HTTPStatus.NOT_FOUND, f"{err}\n".encode(), "text/plain")
            return
        if thumb is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        else:
            self._send(HTTPStatus.OK, thumb, "image/jpeg", cache=True)

    def _post(self, path: str) -> None:
        if path != "/api/change":
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        if not self._same_origin():
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: another origin\n", "text/plain")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= _MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "a change is a small JSON object"})
            return
        try:
            request = parse_line(self.rfile.read(length))
            if not isinstance(request, dict):
                raise ValueError("a change is a JSON object")
            view = self.server.session.change(request)
        except ValueError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        except SacropError as err:  # FILE could not be written: the page says so
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(err)})
        else:
            self._json(HTTPStatus.OK, view)

    # -- answers -------------------------------------------------------------------------
    def _json(self, status: HTTPStatus, value: object) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        kind: str,
        cache: bool = False,
        location: str | None = None,
    ) -> None:
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "private, max-age=3600" if cache else "no-store")
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        if self._set_cookie:
            self.send_header(
                "Set-Cookie",
                f"{self.server.cookie}={self.server.token}; Path=/; HttpOnly; SameSite=Strict",
            )
        self.end_headers()
        self.wfile.write(body)
