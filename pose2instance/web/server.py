"""The web page's HTTP server: Python's own ``ThreadingHTTPServer`` and a small page of ours, JSON in and out.

Routes:

* ``GET /`` (and ``/static/app.js``, ``/static/style.css``): the page;
* ``GET /api/options``: the page's choices, defaults and upload limit;
* ``POST /api/segment``: a ``multipart/form-data`` form (see :class:`~pose2instance.web.jobs.JobRequest`) ->
  the JSON of :func:`~pose2instance.web.jobs.run_job`, or ``{"error": message}`` with status 400 (bad
  input), 413 (upload too large) or 500 (a bug: the traceback goes to the server's stderr, never to the page);
* ``GET /jobs/<id>/<file>``: a file of a finished job (photo, masks, results JSON, zip).

Every file is written inside one temporary folder (a job folder per request, named by a random id, so
that two users never see each other's results); the oldest jobs beyond ``keep_jobs`` are deleted, and
the whole folder when the server stops.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections import OrderedDict
from email.message import Message
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path

from ..limits import KEEP_JOBS, MAX_UPLOAD_MB
from .jobs import JobRequest, Models, Upload, run_job

#: Requests read, queued or computing at once; more are answered 503 (bounds the memory of uploads).
MAX_PENDING = 4
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json", ".zip": "application/zip"}
#: Seconds a client may take to send its whole request body, and to send any one piece of it.
BODY_SECONDS, READ_SECONDS = 120.0, 20.0
#: Connections the listening socket queues before accepting them (a burst of uploads).
BACKLOG = 64


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
JOB_FILE = re.compile(r"/jobs/([0-9a-f]{16})/([A-Za-z0-9._-]{1,160})")
UPLOAD_FIELDS = ("photo", "keypoints", "boxes", "ground_truth")


class BadRequest(ValueError):
    """A request the page should explain (status 400 unless given)."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """A ``multipart/form-data`` body -> ``(fields, uploads)``; file inputs left empty are skipped.

    Each part's headers are parsed by :mod:`email`; its data is a slice of ``body`` (no decoding, so an
    upload costs about two copies of its size).

    Raises:
        BadRequest: not multipart, malformed, or an upload in a field the page does not have.
    """
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary") if header.get_content_type() == "multipart/form-data" else None
    if not boundary or not isinstance(boundary, str):
        raise BadRequest(f"expected a multipart/form-data upload, got {content_type or 'no content type'}")
    fields, uploads = {}, {}
    for chunk in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter
            break
        head, separator, data = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise BadRequest("the upload is not a valid multipart form (a part without headers)")
        part = HeaderParser().parsestr(head.decode("utf-8", "replace").strip())
        name, filename = part.get_param("name", header="content-disposition"), part.get_filename()
        data = data.removesuffix(b"\r\n")
        if filename is None:
            fields[name] = data.decode("utf-8", "replace")
        elif filename or data:
            if name not in UPLOAD_FIELDS:
                raise BadRequest(f"unexpected upload field {name!r}")
            if not data:
                raise BadRequest(f"{filename}: the file is empty")
            uploads[name] = Upload(filename or name, data)
    return fields, uploads


class App:
    """The server's state: models (built once), the temporary folder and its jobs, the limits.

    Args:
        models: the server's :class:`Models` (call ``preload()`` first for a fast first request).
        root: the temporary folder every job folder goes in (the caller creates and removes it).
        max_upload_bytes: largest request body accepted.
        keep_jobs: number of finished jobs whose files are kept.
        max_pending: requests read, queued or computing at once; more are answered 503.
    """

    def __init__(self, models: Models, root: Path, max_upload_bytes: int = MAX_UPLOAD_MB << 20,
                 keep_jobs: int = KEEP_JOBS, max_pending: int = MAX_PENDING):
        self.models, self.root = models, Path(root)
        self.max_upload_bytes, self.keep_jobs = max_upload_bytes, keep_jobs
        self.pending = threading.BoundedSemaphore(max_pending)
        self._jobs: OrderedDict[str, Path] = OrderedDict()
        self._jobs_lock = threading.Lock()

    def options(self) -> dict:
        return {**self.models.options(), "max_upload_bytes": self.max_upload_bytes}

    def _finished(self, job: str, folder: Path) -> None:
        """Offer a finished job's files; delete the oldest finished jobs beyond ``keep_jobs`` (never a running one)."""
        with self._jobs_lock:
            self._jobs[job] = folder
            while len(self._jobs) > self.keep_jobs:
                shutil.rmtree(self._jobs.popitem(last=False)[1], ignore_errors=True)

    def job_file(self, job: str, name: str) -> Path | None:
        """The file ``name`` of finished job ``job``, or None (unknown job, or not a file of its folder)."""
        with self._jobs_lock:
            folder = self._jobs.get(job)
        path = None if folder is None else folder / name
        return path if path is not None and path.is_file() and path.parent == folder else None

    def segment(self, content_type: str, body: bytes) -> dict:
        """Run one request; ``BadRequest`` / ``ValueError`` / ``OSError`` / ``ImportError`` on bad input, with a
        message that names the uploaded file as the user named it, or the form field."""
        fields, uploads = parse_multipart(content_type, body)
        request = JobRequest.from_form(fields, uploads, self.options()["defaults"])
        job = secrets.token_hex(8)
        folder = self.root / job
        folder.mkdir()
        try:
            result = {"job": job, **run_job(folder, request, self.models, f"/jobs/{job}")}
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._finished(job, folder)
        return result


class Handler(BaseHTTPRequestHandler):
    """Routes of the page (see the module doc); ``server.app`` is the :class:`App`."""

    server_version = "pose2instance"
    timeout = READ_SECONDS  # a stalled client frees its thread

    def do_GET(self) -> None:
        if not self._trusted():
            return
        path = self.path.split("?", 1)[0]
        name = "index.html" if path in ("/", "/index.html") else path.removeprefix("/static/")
        if name in STATIC and (path.startswith("/static/") or name == "index.html"):
            page = files("pose2instance.web") / "static" / name
            self._send(HTTPStatus.OK, page.read_bytes(), STATIC[name])
        elif path == "/api/options":
            self._send_json(HTTPStatus.OK, self.server.app.options())
        elif (match := JOB_FILE.fullmatch(path)) and (data := self._job_file(*match.groups())) is not None:
            self._send(HTTPStatus.OK, data, CONTENT_TYPES.get(Path(path).suffix, "application/octet-stream"))
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"{path}: not found (results are kept for the last "
                                                            f"{self.server.app.keep_jobs} requests)"})

    def _job_file(self, job: str, name: str) -> bytes | None:
        file = self.server.app.job_file(job, name)
        try:
            return None if file is None else file.read_bytes()
        except OSError:  # deleted meanwhile (a job beyond keep_jobs)
            return None

    def do_POST(self) -> None:
        if not self._trusted():
            return
        if self.path != "/api/segment":
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"{self.path}: not found"})
            return
        app = self.server.app
        if not app.pending.acquire(blocking=False):
            self._refuse_body(HTTPStatus.SERVICE_UNAVAILABLE, "the server is busy with other requests; try again "
                                                              "in a moment")
            return
        try:
            body = self._read_body()
            if body is not None:
                self._send_json(HTTPStatus.OK, app.segment(self.headers.get("Content-Type", ""), body))
        except BadRequest as e:
            self._send_json(e.status, {"error": str(e)})
        except (ValueError, OSError, ImportError) as e:  # our errors name the file or field
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
        except Exception as e:  # a bug: the page gets one line, the server's log the traceback
            traceback.print_exc(file=sys.stderr)
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR,
                            {"error": f"internal error ({type(e).__name__}); the server's log has the details"})
        finally:
            app.pending.release()

    def _trusted(self) -> bool:
        """On a loopback address, only requests addressed to it (``Host``) and from its own page (``Origin``):
        another web site open in the user's browser can neither post to the page nor read it (DNS
        rebinding). Answers 403 otherwise."""
        host = self.server.server_address[0]
        if not is_loopback(host):
            return True
        own = f"[{host}]" if ":" in host else host
        names = {f"{name}:{self.server.server_address[1]}" for name in ("127.0.0.1", "localhost", "[::1]", own)}
        origin = self.headers.get("Origin")
        if self.headers.get("Host") in names and (origin is None or origin.removeprefix("http://") in names):
            return True
        self._send_json(HTTPStatus.FORBIDDEN, {"error": "this page answers only requests to its own address"})
        return False

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411 / 413."""
        length = self.headers.get("Content-Length")
        if length is None:
            self._refuse_body(HTTPStatus.LENGTH_REQUIRED, "the upload has no Content-Length")
            return None
        if not length.isdigit():
            self._refuse_body(HTTPStatus.BAD_REQUEST, f"invalid Content-Length {length!r}")
            return None
        length, limit = int(length), self.server.app.max_upload_bytes
        if length > limit:
            self._refuse_body(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                              f"the upload is {length / 2**20:.1f} MB; this server accepts at most "
                              f"{limit / 2**20:g} MB per request (pose2instance serve --max-upload-mb)")
            return None
        return self._read_within_deadline(length)

    def _read_within_deadline(self, length: int) -> bytes | None:
        """``length`` bytes of body within :data:`BODY_SECONDS` (a client sending a byte now and then would
        otherwise hold a request slot for ever), or None after answering 408 and closing the connection."""
        deadline, chunks, left = time.monotonic() + BODY_SECONDS, [], length
        while left > 0:
            try:
                chunk = self.rfile.read1(min(left, 1 << 20))
            except TimeoutError:  # nothing for READ_SECONDS
                chunk, deadline = b"", 0.0
            chunks.append(chunk)
            left -= len(chunk)
            if left > 0 and (not chunk or time.monotonic() > deadline):
                self.close_connection = True
                self._send_json(HTTPStatus.REQUEST_TIMEOUT,
                                {"error": f"the upload stopped or took longer than {BODY_SECONDS:g} s"})
                return None
        return b"".join(chunks)

    def _refuse_body(self, status: HTTPStatus, message: str) -> None:
        """Answer ``status`` without keeping the body: a body up to 4 x the upload limit is read and dropped
        first (so that the browser reads the answer), a larger one is not read and the connection closed."""
        length = self.headers.get("Content-Length", "")
        left = int(length) if length.isdigit() else 0
        if left <= 4 * self.server.app.max_upload_bytes:
            while left > 0 and (chunk := self.rfile.read(min(left, 1 << 20))):
                left -= len(chunk)
        self.close_connection = True  # refused: the client opens a new connection for its next try
        self._send_json(status, {"error": message})

    def _send_json(self, status: HTTPStatus, value: dict) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the user closed the page: nothing to answer
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class PageServer(ThreadingHTTPServer):
    """A threading HTTP server holding the :class:`App` (IPv6 when ``host`` is an IPv6 address)."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, host: str, port: int, app: App, verbose: bool = False):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app, self.verbose = app, verbose
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = MAX_UPLOAD_MB,
          keep_jobs: int = KEEP_JOBS, temp_dir: str | Path | None = None, verbose: bool = False) -> None:
    """Load the models, serve the page until Ctrl-C or SIGTERM (both raise ``KeyboardInterrupt`` here), then
    remove the temporary folder.

    Args:
        host, port: where to listen (127.0.0.1: this machine only; port 0: any free port).
        max_upload_mb: largest request (photo and files together).
        keep_jobs: finished jobs whose files are kept for download.
        temp_dir: where the temporary folder is made (default: the system's).
        verbose: log every request to stderr.
    """
    root = Path(tempfile.mkdtemp(prefix="pose2instance-serve-", dir=temp_dir))
    # the libraries' own settings and caches go in the temporary folder too, not in the user's home
    # (a variable the user set is kept)
    caches = {variable: str(root / folder) for variable, folder in (
        ("YOLO_CONFIG_DIR", "ultralytics"), ("TORCHINDUCTOR_CACHE_DIR", "torchinductor"),
        ("TRITON_CACHE_DIR", "triton"), ("MPLCONFIGDIR", "matplotlib")) if variable not in os.environ}
    if "YOLO_VERBOSE" not in os.environ:  # its new settings file would be announced on stdout at every start
        caches["YOLO_VERBOSE"] = "False"
    os.environ.update(caches)
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        models = Models()
        print("loading models ...", file=sys.stderr, flush=True)
        models.preload()
        with PageServer(host, port, App(models, root, int(max_upload_mb * 2**20), keep_jobs), verbose) as server:
            if not is_loopback(host):
                print(f"note: listening on {host}: anyone who can reach this machine can use the page",
                      file=sys.stderr)
            print(f"pose2instance page: {server.url}  (files in {root}, removed at exit; Ctrl-C to stop)", flush=True)
            server.serve_forever()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for variable in caches:
            os.environ.pop(variable, None)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
