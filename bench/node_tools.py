"""What the benchmarks that drive a Node.js tool against `make serve` share: installing the tool into
.cache/ (outside git's view, kept between runs), and a throwaway demo site for the server to show.

bench/observatory.py (the MDN HTTP Observatory scanner) and bench/lighthouse.py (Lighthouse) use it;
the server itself comes from bench/common.py.
"""

import json
import shutil
import sys

from bench.common import ROOT, run


def node_version(minimum, tool):
    """node's path and version, or exit saying what is missing; ``minimum`` is (major, minor)."""
    node = shutil.which("node")
    wanted = ".".join(map(str, minimum))
    if node is None:
        sys.exit(f"node is not installed ({tool} is a Node.js program; version {wanted} or later).")
    version = run([node, "--version"]).stdout.strip()
    if tuple(int(part) for part in version.lstrip("v").split(".")[:2]) < minimum:
        sys.exit(f"node {version} is too old for {tool} ({wanted} or later).")
    return node, version


def npm_install(cache, package, version, *npm_options):
    """``package`` at exactly ``version`` in ``cache``/node_modules, installed when it is not there."""
    manifest = cache / "node_modules" / package / "package.json"
    if manifest.exists() and json.loads(manifest.read_text())["version"] == version:
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(f"npm is not installed: needed once, to install {package} into {cache}.")
    cache.mkdir(parents=True, exist_ok=True)
    # A package.json of its own: npm installs next to the closest one, never into the project.
    if not (cache / "package.json").exists():
        (cache / "package.json").write_text('{"private": true}\n')
    print(f"Installing {package}@{version} into {cache.relative_to(ROOT)} ...", flush=True)
    done = run(
        [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", *npm_options]
        + ["--save-exact", f"{package}@{version}"],
        timeout=600,
    )
    if done.returncode != 0:
        sys.exit(f"npm install failed:\n{done.stdout}\n{done.stderr}")


def prepare_demo_site(env):
    """Migrate the database ``env`` names and load the demo stories (and their pictures) into it."""
    python = str(ROOT / ".venv" / "bin" / "python")
    for step in (["migrate", "--no-input"], ["load_demo"]):
        done = run([python, "manage.py", *step], cwd=ROOT, env=env, timeout=300)
        if done.returncode != 0:
            sys.exit(f"manage.py {' '.join(step)} failed:\n{done.stdout}\n{done.stderr}")
