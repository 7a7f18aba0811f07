"""``pose2instance serve``: a local web page to try the method on your own photos.

:mod:`.jobs` runs one request (the same computation as ``pose2instance segment``) in its own folder;
:mod:`.server` is the HTTP server (Python's ``ThreadingHTTPServer``, no web framework) and ``static/`` the page.
"""

from .jobs import JobRequest, Models, Upload, run_job
from .server import App, PageServer, serve

__all__ = ["App", "JobRequest", "Models", "PageServer", "Upload", "run_job", "serve"]
