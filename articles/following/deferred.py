"""Work done after the answer has gone, so that it shows in no answer's timing: the follow form's mail."""

import contextvars
import logging
import threading

from django.http import HttpResponse

logger = logging.getLogger(__name__)

# Mails in flight at once from threads of their own, per process; beyond that, each waits its turn in
# the server's thread (still after its answer), so a flood of requests cannot pile up threads.
MAIL_THREADS = threading.BoundedSemaphore(8)


class AnswerThen(HttpResponse):
    """A response that does `then()` once it has been sent, so that work shows in no answer's timing.

    WSGI servers call a response's close() after writing its body, which carries its Content-Length:
    the visitor has the whole answer by then. Under a threaded server (gunicorn's gthread worker,
    runserver), `then` runs in a thread of its own, so the server's thread is free at once: a client
    that keeps its connection open learns nothing from when its next answer comes either. Elsewhere
    (Django's test client, a single-threaded server), or when MAIL_THREADS are all busy, it runs here,
    in close(). Either way it must not use the database: the request's connection is being tidied away.
    """

    def __init__(self, content, then, threaded, **kwargs):
        super().__init__(content, **kwargs)
        self.then, self.threaded, self.sender = then, threaded, None
        self.context = contextvars.copy_context()  # the request's, for its id in the log lines

    def close(self):
        try:
            super().close()  # Django's own: request_finished, which tidies database connections
        finally:
            then, self.then = self.then, None  # once, however often close() is called
            if then is not None and self.threaded and MAIL_THREADS.acquire(blocking=False):
                self.sender = threading.Thread(target=self.context.run, args=(self._run, then, True))
                self.sender.start()
            elif then is not None:
                self.context.run(self._run, then, False)

    @staticmethod
    def _run(then, in_thread):
        try:
            then()
        except Exception:  # too late for an error page: the visitor has their answer
            logger.exception("Follow: the work after the answer failed")
        finally:
            if in_thread:
                MAIL_THREADS.release()
