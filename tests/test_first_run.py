"""A new user's first run: what `make run` installs, the address it links to, and what `make test`
leaves behind and tells."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_dry_run(target, **variables):
    """The commands `make` would run for ``target`` from scratch (-B), printed and not run (-n)."""
    result = subprocess.run(
        [shutil.which("make"), "-n", "-B", target, *(f"{name}={value}" for name, value in variables.items())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def python(code, **env):
    """``code`` run by a fresh interpreter in the project folder, with ``env`` on a clean environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SITE_URL", "PORT"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()


def test_make_run_and_serve_install_the_site_and_not_the_development_tools():
    for target in ("run", "serve"):
        commands = make_dry_run(target)
        assert "pip install --quiet -r requirements.txt" in commands
        assert "requirements-dev.txt" not in commands, target
    assert "pip install --quiet -r requirements-dev.txt" in make_dry_run("test")


def test_make_run_serves_and_links_on_the_port_asked_for():
    assert "runserver 127.0.0.1:18801" in make_dry_run("run", PORT="18801")
    site_url = "from conclave import settings; print(settings.SITE_URL)"
    assert python(site_url, DJANGO_DEBUG="true", PORT="18801") == "http://127.0.0.1:18801"
    assert python(site_url, DJANGO_DEBUG="true") == "http://127.0.0.1:8000"
    explicit = {"DJANGO_DEBUG": "true", "PORT": "18801", "SITE_URL": "https://news.example.com/"}
    assert python(site_url, **explicit) == "https://news.example.com"


def test_the_test_settings_remove_their_media_folder_on_exit():
    media_root = python("from tests import settings; print(settings.MEDIA_ROOT)")
    assert "conclave-test-media-" in media_root
    assert not Path(media_root).exists()


def test_skipped_tests_say_why_in_the_summary(tmp_path):
    test_file = tmp_path / "test_skipping.py"
    test_file.write_text(
        "import pytest\n\n\n@pytest.mark.skip(reason='needs the moon')\ndef test_x():\n    pass\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(ROOT),
            str(test_file),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "SKIPPED [1]" in result.stdout and "needs the moon" in result.stdout, result.stdout
