"""What the benchmarks share, so that each bench/<name>.py holds its scenario alone.

Their report (lines printed and kept for bench/results/), the machine they ran on, the PostgreSQL
databases they seed once and reuse, the servers they start and stop by PID (gunicorn itself, or the
site as ``make serve`` runs it), a GET, wrk, and a counting SMTP server.

A script puts the project on sys.path, then imports from here. Importing this module starts nothing,
connects nowhere and sets up no Django: setup_django() and the database functions do, when called.
"""

import contextlib
import gzip
import http.client
import json
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
RESULTS = ROOT / "bench" / "results"
# load_demo's seed story: the article page every benchmark measures.
SEED_SLUG = "openai-foxconn-collaboration-ai-supply-chain-us-data-center-components"
# wrk's default of 2 s would count a slow page as an error and leave it out of the latency figures; a
# page that slow is still a page, and the latency columns show it.
WRK_TIMEOUT = "10s"
# From the environment of whoever runs a benchmark, only what a shell needs: every setting of the site
# comes from the variables the benchmark sets (or the code's defaults), never from a value left over in
# a terminal.
PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
# The site's variables a terminal may hold that would change what a benchmark's own process does.
LEFTOVER_SITE_VARIABLES = (
    "PAGE_CACHE_SECONDS",
    "WEB_CONCURRENCY",
    "AWS_STORAGE_BUCKET_NAME",
    "DATABASE_STATEMENT_TIMEOUT",
)
# The Makefile's RUNTIME_STAMP: marked old for `make serve`, so that make never reinstalls the venv.
VENV_STAMP = ".venv/.installed-runtime"


def redis_url(db):
    """Redis on 127.0.0.1, database ``db``: each benchmark has its own numbers, which it empties."""
    return f"redis://{HOST}:6379/{db}"


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=False, capture_output=True, text=True, **kwargs)  # noqa: S603


def exit_on_sigterm():
    """A plain `kill` of the script runs its finally blocks too, which stop its servers."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def require_make():
    if not shutil.which("make"):
        sys.exit("make is not installed: this script starts the site with `make serve`.")


def throwaway_secret_key():
    return f"bench-throwaway-{secrets.token_urlsafe(32)}"  # a new one every run, used nowhere else


def setup_django(environment=(), defaults=()):
    """django.setup() after setting ``environment``, and ``defaults`` where the variable is unset."""
    os.environ.update(environment)
    for name, value in dict(defaults).items():
        os.environ.setdefault(name, value)
    import django

    django.setup()


# --- the report -------------------------------------------------------------------------------------------


class Report:
    """Lines printed now and kept for the results; ``indent`` goes before every line of a table."""

    def __init__(self, indent=""):
        self.indent = indent
        self.lines = []

    def __call__(self, line=""):
        print(line, flush=True)
        self.lines.append(line)

    def table(self, header, rows, align=None):
        """Columns as wide as their widest cell; all but the first right-aligned unless ``align`` says."""
        cells = [header, *rows]
        widths = [max(len(str(row[i])) for row in cells) for i in range(len(header))]
        align = align or ["<"] + [">"] * (len(header) - 1)
        for n, row in enumerate(cells):
            self(
                self.indent
                + "  ".join(
                    f"{str(cell):{a}{w}}" for cell, a, w in zip(row, align, widths, strict=True)
                ).rstrip()
            )
            if n == 0:
                self(self.indent + "  ".join("-" * w for w in widths))

    def save(self, name):
        """The lines as a text file in bench/results/; its path."""
        return write_text(RESULTS / name, "\n".join(self.lines) + "\n")


def remove_unless(keep, folder, kept):
    """Remove ``folder`` (logs, a throwaway site) at the end of a run, or print ``kept`` and leave it."""
    if keep:
        print(kept)
    else:
        shutil.rmtree(folder, ignore_errors=True)


def write_text(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_json(path, data):
    return write_text(path, json.dumps(data, indent=2) + "\n")


def machine(*versions):
    """What a run ran on: the CPUs, Python and ``versions`` (e.g. "PostgreSQL 15.2")."""
    cpus = f"CPUs: {os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})"
    return f"{cpus}; " + ", ".join([f"Python {platform.python_version()}", *versions])


def load_average():
    return ", ".join(f"{n:.2f}" for n in os.getloadavg())


def git_commit():
    short = run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip() or "unknown"
    # --no-optional-locks: a read that never rewrites the index under someone else's feet.
    dirty = run(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT)
    return short + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def redis_version(url):
    import redis

    return redis.Redis.from_url(url).info("server")["redis_version"]


# --- databases --------------------------------------------------------------------------------------------


def pg_admin():
    import psycopg

    return psycopg.connect(f"{PG_URL}/postgres", autocommit=True)


def pg_version():
    with pg_admin() as admin:
        return admin.execute("SHOW server_version").fetchone()[0]


def database_comment(name):
    """None when the database does not exist, else its comment ("" for none)."""
    with pg_admin() as admin:
        row = admin.execute(
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    return None if row is None else row[0]


def recreate_database(name):
    """An empty database ``name``, dropped first if it is there (Django set up: none of this process's
    connections is left in the way)."""
    from django.db import connections

    connections.close_all()
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def use_database(name):
    """Point this process's Django connection at ``name`` (as create_test_db does for a test database)."""
    from django.conf import settings
    from django.db import connection, connections

    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name


def seed_once(name, marker, seed, *, reseed, report, media_root, steps, shared_media=False):
    """Create, migrate and seed database ``name``, or reuse it when an earlier run finished seeding it.

    ``seed()`` fills it; then VACUUM ANALYZE, and ``marker`` as the database's comment: the sign that
    seeding went to the end, for the next run to find. Its pictures live in ``media_root``, emptied
    with the database unless other databases share it (``shared_media``). Runs in this process, whose
    Django it sets up (and points at ``name``) with the environment of the script.
    """
    reuse = not reseed and database_comment(name) == marker and media_root.is_dir()
    from django.apps import apps

    if not apps.ready:
        setup_django()
    if not reuse:
        if not re.fullmatch(r"\w+", name):
            sys.exit(f"Database {name!r}: letters, digits and _ only.")
        if not shared_media:
            shutil.rmtree(media_root, ignore_errors=True)
        recreate_database(name)
    media_root.mkdir(parents=True, exist_ok=True)
    use_database(name)
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate", "--no-input", verbosity=0)
    if reuse:
        report(f"Reusing database {name} (seeded by an earlier run; --reseed rebuilds it)")
        return
    seed()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    with pg_admin() as admin:
        admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{marker}'")
    report(f"Seeded database {name} in {time.perf_counter() - started:.0f} s ({steps})")


def seed_demo_once(name, articles, script, *, reseed, report, media_root, shared_media=False):
    """seed_once() with ``seed_bulk --articles N``, then ``load_demo``: the seed story among N others.

    ``script`` (e.g. "bench/load_pages.py") heads the marker: each script knows its own databases.
    """

    def seed():
        from django.core.management import call_command

        print(f"Seeding {name}: seed_bulk --articles {articles} (progress below), then load_demo", flush=True)
        call_command("seed_bulk", "--articles", str(articles), stdout=sys.stdout)
        call_command("load_demo", stdout=sys.stdout)

    seed_once(
        name,
        f"{script}: seed_bulk --articles {articles}, load_demo, VACUUM ANALYZE",
        seed,
        reseed=reseed,
        report=report,
        media_root=media_root,
        steps="seed_bulk, load_demo, VACUUM",
        shared_media=shared_media,
    )


# --- servers ----------------------------------------------------------------------------------------------


def free_ports(count, ports):
    ports_found = []
    for port in ports:
        with socket.socket() as probe:
            # As gunicorn binds: a port whose last connections linger in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
        ports_found.append(port)
        if len(ports_found) == count:
            return ports_found
    sys.exit(f"No {count} free port(s) in {ports.start}-{ports.stop - 1}.")


def free_port(ports=None):
    """A free port of ``ports``, or any the system gives when None."""
    if ports is not None:
        return free_ports(1, ports)[0]
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """A command started in a session of its own, its output in a log file, stopped by its PID.

    A session of its own: a Ctrl-C in the terminal reaches the script alone, whose finally stops the
    server, and stop() can end whatever is left of the group.
    """

    label = "the server"
    ready_path = "/healthz"

    def __init__(self, command, env, port, log_path):
        self.command, self.env, self.port, self.log_path = command, env, port, log_path
        self.process = None
        self.log_read = self.booted = 0

    def start(self):
        self.log = open(self.log_path, "ab")  # noqa: SIM115 -- closed in stop()
        self.process = subprocess.Popen(  # noqa: S603
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def is_ready(self):
        with contextlib.suppress(OSError, http.client.HTTPException):
            return get(self.port, self.ready_path).status == 200
        return False

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited ({self.process.returncode}):\n{self.log_tail()}")
            if self.is_ready():
                return
            time.sleep(0.25)
        raise RuntimeError(f"{self.label} not ready after {timeout} s:\n{self.log_tail()}")

    def boots(self):
        """gunicorn workers booted so far (each one logs its boot; max_requests recycles them)."""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_read)
            text = log.read()
        # Count whole lines only: the last one may still be being written.
        text = text[: text.rfind(b"\n") + 1]
        self.log_read += len(text)
        self.booted += text.count(b"Booting worker with pid")
        return self.booted

    def log_size(self):
        return self.log_path.stat().st_size

    def log_text(self, start=0, end=None):
        with open(self.log_path, "rb") as log:
            log.seek(start)
            data = log.read() if end is None else log.read(end - start)
        return data.decode(errors="replace")

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop_signal_target(self):
        return self.process.pid

    def stop(self, timeout=40):
        """SIGTERM (graceful), then SIGKILL to the whole group after ``timeout`` s or once it is done."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.stop_signal_target(), signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # Anything of the group still alive (a worker that outlived its master) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


class Gunicorn(Server):
    """One gunicorn master (and its workers) with the production config file, as `make serve` runs it."""

    label = "gunicorn"

    def __init__(self, port, env, log_path, label=None):
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        command = [gunicorn, "--config", "conclave/gunicorn.conf.py", "conclave.wsgi"]
        super().__init__(command, {**env, "GUNICORN_BIND": f"{HOST}:{port}"}, port, log_path)
        self.label = label or self.label


def bench_settings_env(media_root, static_root, **variables):
    """The environment of a script that runs gunicorn itself on bench.settings: what `make serve` runs
    with (DEBUG off, plain HTTP, 127.0.0.1), a throwaway secret key, folders of its own, ``variables``."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": throwaway_secret_key(),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "MEDIA_ROOT": str(media_root),
        "BENCH_STATIC_ROOT": str(static_root),
        **variables,
    }


def site_env(port, **variables):
    """The whole environment of `make serve`: a shell's basics, then the site's variables."""
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=throwaway_secret_key(),
        DJANGO_ALLOWED_HOSTS=HOST,
        SITE_URL=f"http://{HOST}:{port}",
        PORT=str(port),
    )
    env.update(variables)
    return env


def take_site_env(env):
    """This process's environment becomes the server's, so that what it seeds or saves is the site's."""
    for name in (*LEFTOVER_SITE_VARIABLES, "DJANGO_SETTINGS_MODULE"):
        os.environ.pop(name, None)
    os.environ.update({k: v for k, v in env.items() if k != "PORT"})
    os.environ["DJANGO_SETTINGS_MODULE"] = "conclave.settings"


def default_workers(env):
    """The workers gunicorn.conf.py starts in this environment: WEB_CONCURRENCY, else 2 × cores + 1."""
    return int(env.get("WEB_CONCURRENCY") or 2 * len(os.sched_getaffinity(0)) + 1)


def children(pid):
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # The name (in parentheses) may hold spaces: the fields that follow start after its ")".
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def proc_memory(pid):
    """{"rss": VmRSS, "peak": VmHWM} in KiB, or None when the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB$", status, re.M))
    return {"rss": int(fields.get("VmRSS", 0)), "peak": int(fields.get("VmHWM", 0))}


class Serve(Server):
    """``make serve`` (collectstatic, migrate, gunicorn), and the gunicorn master it becomes.

    make runs the recipe's last line in a shell that execs gunicorn, so the master is make's child (not
    make itself): make waits for it and exits when it does. The venv stamp and .env are marked old
    (``-o``) so that make never reinstalls the venv in the middle of a run or writes a .env: this
    environment carries everything the site needs.
    """

    label = "make serve"

    def __init__(self, env, log_path):
        make = shutil.which("make") or "/usr/bin/make"
        command = [make, "--no-print-directory", "-o", VENV_STAMP, "-o", ".env", "serve"]
        super().__init__(command, env, int(env["PORT"]), log_path)
        self.master = None
        self.workers_wanted = 0

    def wait_ready(self, timeout=180, workers=None):
        """Until /healthz answers 200 and the master has ``workers`` children that all logged their boot
        (default: as many as gunicorn.conf.py starts in this environment)."""
        self.workers_wanted = workers or default_workers(self.env)
        super().wait_ready(timeout)

    def is_ready(self):
        if self.master is None:
            # collectstatic and migrate run first, as make's children too: wait for gunicorn.
            for pid in children(self.process.pid):
                with contextlib.suppress(OSError):
                    if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        self.master = pid
        if self.master is None or len(self.workers()) < self.workers_wanted:
            return False
        return self.boots() >= self.workers_wanted and super().is_ready()

    def workers(self):
        return children(self.master) if self.master else []

    def stop_signal_target(self):
        # The master lets its workers finish what they are serving, then exits, and so does make.
        # Without a master (make still in collectstatic), make itself is stopped.
        return self.master if self.master and proc_memory(self.master) else self.process.pid


# --- requests ---------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict  # names in lower case
    body: bytes  # decompressed
    wire_bytes: int


def get(port, path, headers=None, conn=None):
    """GET with Accept-Encoding: gzip, as browsers send it, on ``conn`` or a connection of its own."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "gzip", **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
        found = {name.lower(): value for name, value in response.getheaders()}
        body = gzip.decompress(raw) if found.get("content-encoding") == "gzip" else raw
        return Answer(response.status, found, body, len(raw))
    finally:
        if own:
            conn.close()


# --- wrk --------------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def wrk_path():
    return shutil.which("wrk") or "/usr/bin/wrk"


def require_wrk():
    if not (shutil.which("wrk") or Path("/usr/bin/wrk").exists()):
        sys.exit(
            "wrk is not installed: it comes from Debian's package of that name (apt-get install -y wrk)."
        )


def wrk_version():
    return run([wrk_path(), "--version"]).stdout.split("Copyright")[0].strip()


def wrk(url, seconds, threads, connections, *options):
    """wrk's output of one run with --latency and WRK_TIMEOUT (``options``: -H, -s, ...)."""
    cmd = [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    cmd += ["--latency", "--timeout", WRK_TIMEOUT, *options, url]
    done = run(cmd, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def wrk_summary(out):
    """The figures of wrk's own summary: requests/s, requests, latency percentiles (ms), errors, bytes/s."""
    latency = {
        percent: float(value) * _UNITS[unit]
        for percent, value, unit in re.findall(r"^\s*([\d.]+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
    }
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB|TB)", out)
    # wrk prints "Socket errors" only when there were some, and "Non-2xx or 3xx" (its name for >= 400)
    # only when there were some: absent means zero.
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    counts = map(int, sockets.groups()) if sockets else (0,) * 4
    non_2xx_3xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "requests_per_second": float(rps.group(1)) if rps else 0.0,
        "requests": int(requests.group(1)) if requests else 0,
        "latency_ms": latency,
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"), counts, strict=True)),
        "non_2xx_or_3xx": int(non_2xx_3xx.group(1)) if non_2xx_3xx else 0,
        "bytes_per_second": float(transfer.group(1)) * _BYTES[transfer.group(2)] if transfer else 0.0,
    }


# --- mail -------------------------------------------------------------------------------------------------


class CountingSink:
    """Accepts every message and keeps counts (in shared memory, read by the parent): messages, and
    recipients that had been sent one before (which a correct sender never makes)."""

    def __init__(self, counter, repeats):
        self.counter, self.repeats = counter, repeats
        self.seen = set()  # in the sink's own process: only counts cross to the parent

    async def handle_DATA(self, server, session, envelope):
        with self.counter.get_lock():
            self.counter.value += 1
        for recipient in envelope.rcpt_tos:
            if recipient in self.seen:
                with self.repeats.get_lock():
                    self.repeats.value += 1
            self.seen.add(recipient)
        return "250 OK"


def run_sink(controller_class, port, counter, repeats, ready, stop):
    import logging

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    controller = controller_class(CountingSink(counter, repeats), hostname=HOST, port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class Sink:
    """A counting SMTP server on 127.0.0.1, in a child process (default) or in a thread of this one."""

    def __init__(self, in_thread=False):
        # Imported here, before the fork: the sink starts at once, and this process holds the same
        # modules whichever way the sink runs.
        from aiosmtpd.controller import Controller

        context = multiprocessing.get_context("fork")
        self.port = free_port()
        self.counter, self.repeat_counter = context.Value("l", 0), context.Value("l", 0)
        self.ready, self.stop = (
            (threading.Event(), threading.Event()) if in_thread else (context.Event(), context.Event())
        )
        kind = threading.Thread if in_thread else context.Process
        self.worker = kind(
            target=run_sink,
            args=(Controller, self.port, self.counter, self.repeat_counter, self.ready, self.stop),
            daemon=True,
        )
        self.worker.start()
        if not self.ready.wait(10):
            raise RuntimeError("the SMTP sink did not start")

    @property
    def count(self):
        return self.counter.value

    @property
    def repeats(self):
        """Recipients sent a second message (or more): 0 when each got exactly one."""
        return self.repeat_counter.value

    def close(self):
        self.stop.set()
        self.worker.join(10)
