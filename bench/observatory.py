"""The MDN HTTP Observatory's grade of the site under `make serve`, on plain HTTP at 127.0.0.1.

Acceptance: "The MDN HTTP Observatory scanner (npm @mdn/mdn-http-observatory) against `make serve` on
127.0.0.1 scores the best possible on plain HTTP; its JSON is saved by the script." What it does:

* installs the scanner (@mdn/mdn-http-observatory, SCANNER_VERSION) into .cache/observatory/ when it is
  not there, with ``npm install --ignore-scripts``: its postinstall downloads the HSTS preload list and
  the list of top-level domains, which fails offline. Empty stand-ins replace both (conf/hsts-preload.json
  ``{}``, conf/tld-list.json ``[]``): 127.0.0.1 is on neither list anyway;
* a throwaway SQLite database in a temporary folder, migrated and filled by ``load_demo``, so that the
  home page and the seed story are real pages, with pictures;
* the site started with ``make serve``, as in production (DEBUG off, gunicorn with
  conclave/gunicorn.conf.py, DJANGO_SECURE_SSL_REDIRECT false as the Makefile defaults), on a free port
  in 8920-8929, with a random DJANGO_SECRET_KEY (the make serve harness of bench/common.py);
* the scanner's CLI (src/scan.js) on the home page and on the seed story: it takes host[:port], and a
  path appended to it is kept, since it builds its URL as http://<argument>;
* the scanner's JSON for both pages saved in bench/results/observatory.json ({"scans": {path: JSON}});
  grade, score and every test with pass/fail, its result and score modifier printed.

On plain HTTP at 127.0.0.1 two tests can never pass: ``redirection`` (no redirect to HTTPS: there is
no HTTPS here; -20) and ``strict-transport-security`` (browsers ignore HSTS sent over HTTP, so Django
sends none; -20). The best possible result is then 60 (C+), with every other test passed. Exit status
1 unless every other test passes on both pages.

    .venv/bin/python bench/observatory.py
    .venv/bin/python bench/observatory.py --keep-log          # keep make serve's log to look at

Needs node (20 or later), npm for the first run, and make. Sends traffic to 127.0.0.1 only (the
scanner also tries https:// on the same port, which fails, as it should).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    RESULTS,
    ROOT,
    SEED_SLUG,
    Serve,
    free_port,
    get,
    remove_unless,
    require_make,
    run,
    site_env,
    write_json,
)
from bench.node_tools import node_version, npm_install, prepare_demo_site  # noqa: E402

SCANNER = "@mdn/mdn-http-observatory"
SCANNER_VERSION = "1.4.8"
CACHE = ROOT / ".cache" / "observatory"  # outside git's view, kept between runs
PACKAGE = CACHE / "node_modules" / "@mdn" / "mdn-http-observatory"
PORTS = range(8920, 8930)  # bench/load_pages.py takes 8910-8919: both may run at once
# The two tests plain HTTP can never pass (see the docstring); every other one must.
HTTPS_ONLY = {"redirection", "strict-transport-security"}
RESULT = RESULTS / "observatory.json"


def install_scanner():
    """The scanner in CACHE, at SCANNER_VERSION, with the two lists its postinstall would download."""
    node, version = node_version((20, 0), "the scanner")
    npm_install(CACHE, SCANNER, SCANNER_VERSION, "--ignore-scripts")
    for name, empty in (("hsts-preload.json", "{}"), ("tld-list.json", "[]")):
        path = PACKAGE / "conf" / name
        if not path.exists():
            path.write_text(empty + "\n")
    return node, version


def scan(node, target):
    """The scanner's JSON for http://<target>."""
    done = run([node, str(PACKAGE / "src" / "scan.js"), target], cwd=PACKAGE, timeout=120)
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"the scanner printed no JSON ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        ) from None
    if "error" in result or done.returncode != 0:
        raise RuntimeError(f"the scanner failed on {target}: {result.get('error', done.stderr)}")
    return result


def wrap(text, width):
    """Lines of at most ``width`` characters, cut at spaces."""
    lines, line = [], ""
    for word in str(text).split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else [""]


def report_scan(path, result):
    """Prints one page's scan; returns the tests that fail and may not."""
    summary = result["scan"]
    print()
    print(
        f"== {path}: grade {summary['grade']}, score {summary['score']}, "
        f"{summary['testsPassed']} passed, {summary['testsFailed']} failed, "
        f"HTTP {summary.get('statusCode')} =="
    )
    names = sorted(result["tests"])
    width = max(len(name) for name in names)
    print(f"  {'test':<{width}}  pass  score  result")
    print(f"  {'-' * width}  ----  -----  {'-' * 40}")
    failing = []
    for name in names:
        test = result["tests"][name]
        passed = bool(test.get("pass"))
        if not passed and name not in HTTPS_ONLY:
            failing.append(name)
        mark = "yes" if passed else ("no*" if name in HTTPS_ONLY else "NO")
        modifier = test.get("scoreModifier", 0)
        print(f"  {name:<{width}}  {mark:<4}  {modifier:>+5}  {test.get('result')}")
        for key in ("expectation", "data"):
            if not passed and test.get(key) is not None:
                value = test[key] if isinstance(test[key], str) else json.dumps(test[key])
                for n, line in enumerate(wrap(value, 100)):
                    label = f"{key}:" if n == 0 else ""
                    print(f"  {'':<{width}}              {label:<12} {line}")
    print("  (no*: a test that plain HTTP can never pass)")
    return failing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep-log", action="store_true", help="Keep the site's folder and make serve's log."
    )
    args = parser.parse_args()
    require_make()
    node, node_version = install_scanner()
    print(f"{SCANNER} {SCANNER_VERSION} on node {node_version}", flush=True)

    folder = Path(tempfile.mkdtemp(prefix="conclave-observatory-"))
    port = free_port(PORTS)
    env = site_env(
        port,
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        MEDIA_ROOT=str(folder / "media"),
    )
    serve = Serve(env, folder / "make-serve.log")
    # The scanner builds its URL as http://<argument>: a path after host:port is kept.
    pages = {"/": f"{HOST}:{port}", f"/news/{SEED_SLUG}/": f"{HOST}:{port}/news/{SEED_SLUG}/"}
    scans, failing = {}, {}
    try:
        prepare_demo_site(env)
        serve.start()
        serve.wait_ready()
        print(f"make serve on {HOST}:{port} (gunicorn master {serve.master}), SQLite in {folder}", flush=True)
        for path in pages:
            status = get(port, path).status
            if status != 200:
                raise RuntimeError(f"{path} answers {status}, not 200: nothing worth scanning")
        for path, target in pages.items():
            started = time.perf_counter()
            scans[path] = scan(node, target)
            print(f"Scanned http://{target} in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        serve.stop()
        remove_unless(args.keep_log, folder, f"Site folder and make serve's log kept in {folder}")

    write_json(RESULT, {"scanner": f"{SCANNER}@{SCANNER_VERSION}", "node": node_version, "scans": scans})
    for path, result in scans.items():
        failing[path] = report_scan(path, result)

    print()
    best = all(not names for names in failing.values())
    for path, result in scans.items():
        names = ", ".join(failing[path]) or "none"
        print(f"{path}: {result['scan']['grade']} ({result['scan']['score']}); failing beyond HTTPS: {names}")
    if best:
        print(
            "PASS: every test passes but redirection and strict-transport-security "
            "(the best possible on plain HTTP: 60, C+)"
        )
    else:
        print("FAIL: tests other than redirection and strict-transport-security fail (see above)")
    print(f"Scanner JSON written to {RESULT.relative_to(ROOT)}")
    sys.exit(0 if best else 1)


if __name__ == "__main__":
    main()
