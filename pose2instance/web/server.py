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

import json
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import traceback
from collections import OrderedDict
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path

from .jobs import JobRequest, Models, Upload, demo_files, run_job

#: Default limit of one request's body (photo and JSON files together), in megabytes.
MAX_UPLOAD_MB = 25
#: Default number of finished jobs whose files are kept (older ones are deleted).
KEEP_JOBS = 20
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json", ".zip": "application/zip"}
JOB_FILE = re.compile(r"/jobs/([0-9a-f]{16})/([A-Za-z0-9._-]{1,160})")
UPLOAD_FIELDS = ("photo", "keypoints", "boxes", "ground_truth")


class BadRequest(ValueError):
    """A request the page should explain (status 400 unless given)."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """A ``multipart/form-data`` body -> ``(fields, uploads)``; file inputs left empty are skipped.

    Raises:
        BadRequest: not multipart, or an upload in a field the page does not have.
    """
    if not content_type.startswith("multipart/form-data"):
        raise BadRequest(f"expected a multipart/form-data upload, got {content_type or 'no content type'}")
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
                                                   + body)
    if not message.is_multipart():
        if b"content-disposition" not in body.lower():  # a form with no field at all
            return {}, {}
        raise BadRequest("the upload is not a valid multipart form")
    fields, uploads = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
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
    """

    def __init__(self, models: Models, root: Path, max_upload_bytes: int = MAX_UPLOAD_MB << 20,
                 keep_jobs: int = KEEP_JOBS):
        self.models, self.root = models, Path(root)
        self.max_upload_bytes, self.keep_jobs = max_upload_bytes, keep_jobs
        self._jobs: OrderedDict[str, Path] = OrderedDict()
        self._jobs_lock = threading.Lock()

    def options(self) -> dict:
        return {**self.models.options(), "max_upload_bytes": self.max_upload_bytes}

    def _new_job(self) -> tuple[str, Path]:
        job = secrets.token_hex(8)
        folder = self.root / job
        folder.mkdir()
        with self._jobs_lock:
            self._jobs[job] = folder
            while len(self._jobs) > self.keep_jobs:
                shutil.rmtree(self._jobs.popitem(last=False)[1], ignore_errors=True)
        return job, folder

    def job_file(self, job: str, name: str) -> Path | None:
        """The file ``name`` of job ``job``, or None (unknown job, or not a file of its folder)."""
        with self._jobs_lock:
            folder = self._jobs.get(job)
        path = None if folder is None else folder / name
        return path if path is not None and path.is_file() and path.parent == folder else None

    def segment(self, content_type: str, body: bytes) -> dict:
        """Run one request; ``BadRequest`` (or ``ValueError`` / ``OSError`` / ``ImportError``) on bad input."""
        fields, uploads = parse_multipart(content_type, body)
        request = JobRequest.from_form(fields, uploads, self.options()["defaults"])
        job, folder = self._new_job()
        try:
            return {"job": job, **run_job(folder, request, self.models, f"/jobs/{job}")}
        except Exception as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise _readable(e, folder) from e


def _readable(error: Exception, folder: Path) -> Exception:
    """The same error with server paths cut out of its message (the page names the uploaded file alone)."""
    message = str(error)
    for prefix in (folder / "input", folder, demo_files()[0].parent):
        message = message.replace(f"{prefix}/", "").replace(str(prefix), "")
    error.args = (message,)
    return error


class Handler(BaseHTTPRequestHandler):
    """Routes of the page (see the module doc); ``server.app`` is the :class:`App`."""

    server_version = "pose2instance"
    timeout = 120  # a stalled client frees its thread

    def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
        path = self.path.split("?", 1)[0]
        name = "index.html" if path in ("/", "/index.html") else path.removeprefix("/static/")
        if name in STATIC and (path.startswith("/static/") or name == "index.html"):
            page = files("pose2instance.web") / "static" / name
            self._send(HTTPStatus.OK, page.read_bytes(), STATIC[name])
        elif path == "/api/options":
            self._send_json(HTTPStatus.OK, self.server.app.options())
        elif (match := JOB_FILE.fullmatch(path)) and (file := self.server.app.job_file(*match.groups())):
            self._send(HTTPStatus.OK, file.read_bytes(), CONTENT_TYPES.get(file.suffix, "application/octet-stream"))
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"{path}: not found (results are kept for the last "
                                                            f"{self.server.app.keep_jobs} requests)"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/api/segment":
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"{self.path}: not found"})
            return
        try:
            body = self._read_body()
            result = self.server.app.segment(self.headers.get("Content-Type", ""), body)
        except BadRequest as e:
            self._send_json(e.status, {"error": str(e)})
        except (ValueError, OSError, ImportError) as e:  # our errors name the file or field
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
        except Exception as e:  # a bug: the page gets one line, the server's log the traceback
            traceback.print_exc(file=sys.stderr)
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR,
                            {"error": f"internal error ({type(e).__name__}: {e}); the server's log has the details"})
        else:
            self._send_json(HTTPStatus.OK, result)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise BadRequest("the upload has no Content-Length", HTTPStatus.LENGTH_REQUIRED)
        length, limit = int(length), self.server.app.max_upload_bytes
        if length > limit:
            self._drain(length)
            raise BadRequest(f"the upload is {length / 2**20:.1f} MB; this server accepts at most "
                             f"{limit / 2**20:.0f} MB per request (pose2instance serve --max-upload-mb)",
                             HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return self.rfile.read(length)

    def _drain(self, length: int, most: int = 1 << 30) -> None:
        """Read and drop an oversized body (up to ``most`` bytes), so the browser reads our answer."""
        left = min(length, most)
        while left > 0 and (chunk := self.rfile.read(min(left, 1 << 20))):
            left -= len(chunk)
        if length > most:
            self.close_connection = True

    def _send_json(self, status: HTTPStatus, value: dict) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the http.server interface)
        if self.server.verbose:
            super().log_message(format, *args)


class PageServer(ThreadingHTTPServer):
    """A threading HTTP server holding the :class:`App` (IPv6 when ``host`` is an IPv6 address)."""

    daemon_threads = True

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
    """Load the models, serve the page until Ctrl-C, then remove the temporary folder.

    Args:
        host, port: where to listen (127.0.0.1: this machine only; port 0: any free port).
        max_upload_mb: largest request (photo and files together).
        keep_jobs: finished jobs whose files are kept for download.
        temp_dir: where the temporary folder is made (default: the system's).
        verbose: log every request to stderr.
    """
    root = Path(tempfile.mkdtemp(prefix="pose2instance-serve-", dir=temp_dir))
    try:
        models = Models()
        print("loading models ...", file=sys.stderr, flush=True)
        models.preload()
        with PageServer(host, port, App(models, root, int(max_upload_mb * 2**20), keep_jobs), verbose) as server:
            if host not in ("127.0.0.1", "localhost", "::1"):
                print(f"note: listening on {host}: anyone who can reach this machine can use the page",
                      file=sys.stderr)
            print(f"pose2instance page: {server.url}  (files in {root}; Ctrl-C to stop)", flush=True)
            server.serve_forever()
    finally:
        shutil.rmtree(root, ignore_errors=True)
