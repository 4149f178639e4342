"""Cross-cutting request handling: who is asking, request ids and request logs, body caps, outages."""

import contextvars
import logging
import re
import sys
import time
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse
from django.template import loader
from django.template.defaultfilters import filesizeformat
from django.views import defaults

from conclave.database import statement_cancelled

logger = logging.getLogger("conclave.requests")

# Seconds a visitor (or a load balancer) is asked to wait before trying again while the database is
# out: long enough not to add to the load, short enough for a restart or a failover.
RETRY_AFTER_SECONDS = 30

# A request id from the proxy is used only if it looks like one: it goes into every log line.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")

_request_id = contextvars.ContextVar("request_id", default=None)


def client_ip(request):
    """The visitor's address: behind the TLS proxy, the one the proxy saw (the last X-Forwarded-For
    entry, the only one a client cannot forge); otherwise the connection's."""
    if settings.BEHIND_TLS_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")


class RequestIdFilter(logging.Filter):
    """Puts the id of the request being served (or None) on every log record, for the JSON logs."""

    def filter(self, record):
        record.request_id = _request_id.get()
        return True


class RequestLogMiddleware:
    """Gives every request an id and logs one line for it, with its status and duration.

    Outermost, so the line covers everything (static files, the page cache, errors turned into pages)
    and the id is on every line logged while the request is served. The id is the proxy's
    ``X-Request-ID`` when behind the trusted proxy, so one request can be followed across both logs,
    and is sent back in the response for a reader who reports a problem.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        incoming = request.META.get("HTTP_X_REQUEST_ID", "") if settings.BEHIND_TLS_PROXY else ""
        request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            logger.info(
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "client_ip": client_ip(request),
                },
            )
            return response
        finally:
            _request_id.reset(token)


class RequestSizeLimitMiddleware:
    """Refuses a request body over ``MAX_REQUEST_BYTES`` before anything reads it, with a clear 413.

    Django caps form fields (``DATA_UPLOAD_MAX_MEMORY_SIZE``) but streams file uploads to disk at any
    size; this caps the whole body, uploads included. A body sent without a Content-Length (chunked)
    is never read by Django at all.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BYTES:
            logger.warning("Request body of %d bytes refused (limit %d)", length, settings.MAX_REQUEST_BYTES)
            response = HttpResponse(
                f"The upload is too large: {filesizeformat(length)}; "
                f"the limit is {filesizeformat(settings.MAX_REQUEST_BYTES)}.\n",
                status=413,
                content_type="text/plain; charset=utf-8",
            )
            # The rest of the body is not read: the connection cannot carry another request.
            response["Connection"] = "close"
            return response
        return self.get_response(request)


class UnstorableInputMiddleware:
    """A 404 page, before any view runs, for an address whose path or query string holds NUL.

    No database column can hold NUL (PostgreSQL refuses it in any text; SQLite quietly cuts the string
    there), so no page, tag, token or search can be named by one: whatever a view would look up with
    it, the honest answer is "not found". Checked once here rather than in every view, URL converter
    and lookup that takes a string from the address, including those not written yet. Form fields are
    the forms' business: Django's text fields refuse NUL with a message of their own.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # (No query string, no parameter to look into: request.GET is not even built.)
        if "\x00" in request.path_info or (
            request.META.get("QUERY_STRING")
            and any(
                "\x00" in name or any("\x00" in value for value in values)
                for name, values in request.GET.lists()
            )
        ):
            return defaults.page_not_found(request, Http404("NUL in the address"))
        return self.get_response(request)


def server_error(request):
    """The site's 500 page, a 503 with ``Retry-After`` when the database is out of reach, or a 504
    when PostgreSQL cancelled a statement that ran past the statement timeout (conclave/database.py).

    Django calls this for any exception no view handled (with DEBUG off), wherever it was raised: the
    database may fail in a view, in the session or login lookups, or in a template. No page needs
    the database or a request context. The traceback goes to the log (django.request), never here;
    its line says "Gateway Timeout" for a cancelled statement, "Service Unavailable" for an outage.
    """
    exception = sys.exc_info()[1]
    if statement_cancelled(exception):  # an OperationalError too, but the database is there
        response = HttpResponse(loader.render_to_string("504.html"), status=504)
        response["Cache-Control"] = "no-store"
        return response
    if isinstance(exception, OperationalError | InterfaceError):
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
    return defaults.server_error(request)
