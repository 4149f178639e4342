"""Work on untrusted input in a forked child process, killed after a time limit.

A thread cannot be stopped. Formatting a pasted Markdown body (Python-Markdown has super-linear cases)
or decoding an uploaded image can take far longer than any request should; run in a child, it ends
with a clear message for the editor after the limit instead of holding a server worker until the web
server kills it, and whatever it breaks dies with the child.
"""

import contextlib
import multiprocessing
import os
import sys


class TimeLimitExceeded(Exception):
    """The work did not finish within its time limit; the child was killed."""


class ChildDied(Exception):
    """The child process stopped without an answer (killed by the system, or crashed)."""


def run_with_time_limit(function, args, time_limit):
    """``function(*args)``, computed in a forked child; its result or its exception, re-raised here.

    ``function`` runs on a copy of this process (arguments are not pickled); the result and any
    exception come back pickled. Callers must have done their lazy imports first: a child forked while
    another thread holds an import lock would deadlock on its first import.
    """
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_run_in_child, args=(function, args, sender), daemon=True)
    outcome = None
    try:
        child.start()
        sender.close()  # the child now holds the only write end, so its death reads as EOF here
        if not receiver.poll(time_limit):
            raise TimeLimitExceeded
        try:
            outcome = receiver.recv()
        except (EOFError, OSError):  # the child died before (or while) sending its answer
            raise ChildDied from None
    finally:
        receiver.close()
        sender.close()
        if child.pid is not None:  # started: always reap it, so no zombie is left behind
            if outcome is None:
                child.kill()  # SIGKILL, not SIGTERM: a server's inherited SIGTERM handler may ignore it
            child.join(1)  # after sending, the child exits at once
            if child.exitcode is None:
                child.kill()
                child.join()
            # ValueError: another thread's multiprocessing bookkeeping (Process.start reaps finished
            # children) reaped it between our wait and this check; it is gone, and garbage collection
            # releases the rest.
            with contextlib.suppress(ValueError):
                child.close()
    status, value = outcome
    if status == "raised":
        raise value
    return value


def _run_in_child(function, args, conn):
    try:
        outcome = ("ok", function(*args))
    except BaseException as exc:  # any failure must reach the parent as an answer, not as a hang
        outcome = ("raised", exc)
    try:
        try:
            conn.send(outcome)
        except Exception as exc:  # an unpicklable result or exception: say what it was
            conn.send(("raised", RuntimeError(f"{type(exc).__name__}: {exc}"[:300])))
    finally:
        _save_coverage_measurement()
        # Skip interpreter/multiprocessing teardown: no atexit, no re-flush of the parent's stdio
        # buffers, no closing of inherited DB/cache sockets behind the parent's back.
        os._exit(0)


def _save_coverage_measurement():
    """Under ``make test``, keep what the child ran: os._exit skips the save coverage does at exit.

    The code that decodes uploads and formats bodies runs only here, so without this the coverage floor
    would count it as never tested. Outside tests coverage is not imported and this does nothing.
    """
    coverage = sys.modules.get("coverage")
    measurement = coverage.Coverage.current() if coverage else None
    if measurement is not None:
        measurement.stop()
        measurement.save()
