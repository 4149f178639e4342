"""Varnish in front of the live test server, running deploy/varnish/default.vcl as shipped but for the
backend's port.

``running_varnish(backend_port)`` writes that VCL into a temporary folder, starts ``varnishd`` in the
foreground on two loopback ports it picks itself (readers' HTTP, and a PROXY-protocol listener through
which a test can speak for another client address), waits until it answers, and stops it by its PID
however the block ends. Without varnishd (or the xkey module) the tests fail, saying what to install:
CI installs both.
"""

import http.client
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VCL = ROOT / "deploy" / "varnish" / "default.vcl"
VARNISHD = os.environ.get("VARNISHD", "/usr/sbin/varnishd")
VARNISHADM = shutil.which("varnishadm") or "/usr/bin/varnishadm"
INSTALL = "apt-get install -y varnish varnish-modules (.ci/run does)"
BACKEND_PORT_LINE = '.port = "8000";'
START_SECONDS = 20


def vcl_for_backend(port):
    """The shipped VCL with the backend's port replaced: the one line that names it, or a clear failure."""
    text = VCL.read_text()
    if text.count(BACKEND_PORT_LINE) != 1 or '.host = "127.0.0.1";' not in text:
        pytest.fail(f"{VCL} must declare its backend as 127.0.0.1 with {BACKEND_PORT_LINE} once")
    return text.replace(BACKEND_PORT_LINE, f'.port = "{port}";')


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def cache(self):
        """What Varnish did: HIT, STALE, MISS or PASS."""
        return self.headers.get("X-Varnish-Cache")


@dataclass
class Varnish:
    port: int  # readers
    proxy_port: int  # PROXY protocol: the client address is the one the test names
    workdir: Path

    def request(self, method, path, headers=None, port=None, proxy_source=None):
        connection = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        try:
            if proxy_source is not None:
                connection.connect()
                header = f"PROXY TCP4 {proxy_source} 127.0.0.1 40000 {self.proxy_port}\r\n"
                connection.sock.sendall(header.encode())
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def get(self, path, **headers):
        return self.request("GET", path, headers)

    def purge(self, path="/", keys=None, **options):
        headers = {"xkey-purge": keys} if keys is not None else {}
        return self.request("PURGE", path, {**headers, **options.pop("headers", {})}, **options)

    def from_address(self, source, method, path, headers=None):
        """A request as if from ``source`` (sent to 127.0.0.1 all the same, through the PROXY listener)."""
        return self.request(method, path, headers, port=self.proxy_port, proxy_source=source)

    def log(self):
        """Varnish's transaction log so far, to read when a test fails."""
        result = subprocess.run(
            [shutil.which("varnishlog") or "/usr/bin/varnishlog", "-d", "-n", str(self.workdir)],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return result.stdout + result.stderr


def _admin(workdir, *command):
    return subprocess.run(
        [VARNISHADM, "-n", str(workdir), "-t", "2", *command], capture_output=True, text=True, timeout=10
    )


@contextmanager
def running_varnish(backend_port):
    if not os.access(VARNISHD, os.X_OK):
        pytest.fail(f"varnishd not found at {VARNISHD} (VARNISHD names another): {INSTALL}")
    with tempfile.TemporaryDirectory(prefix="conclave-varnish-") as folder:
        folder = Path(folder)
        vcl, workdir, output = folder / "default.vcl", folder / "work", folder / "varnishd.log"
        vcl.write_text(vcl_for_backend(backend_port))
        command = [
            VARNISHD,
            "-F",  # in the foreground: this PID is the one to stop
            "-j",
            "none",  # no jail: runs as whoever runs the tests (root drops to a user who cannot read tmp)
            "-n",
            str(workdir),
            "-f",
            str(vcl),
            "-a",
            "http=127.0.0.1:0",
            "-a",
            "proxy=127.0.0.1:0,PROXY",
            "-s",
            "malloc,32m",
            # Small, so it starts quickly: one thread pool, few threads, a small log.
            "-p",
            "thread_pools=1",
            "-p",
            "thread_pool_min=10",
            "-p",
            "vsl_space=4M",
        ]
        with output.open("w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            ports = _wait_until_running(process, workdir, output)
            yield Varnish(port=ports["http"], proxy_port=ports["proxy"], workdir=workdir)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_running(process, workdir, output):
    """The listeners' ports once the cache process runs; a failure with varnishd's own words otherwise."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"varnishd exited with {process.returncode}:\n{output.read_text()}\n({INSTALL})")
        status = _admin(workdir, "status")
        if status.returncode == 0 and "running" in status.stdout:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"varnishd did not start within {START_SECONDS} s:\n{output.read_text()}")
        time.sleep(0.05)
    listening = _admin(workdir, "debug.listen_address").stdout
    ports = {name: int(port) for name, port in re.findall(r"^(\w+) 127\.0\.0\.1 (\d+)$", listening, re.M)}
    if set(ports) != {"http", "proxy"}:
        pytest.fail(f"varnishd listens on an unexpected set of addresses:\n{listening}")
    return ports
