"""manage.py run as production runs it: a fresh interpreter, conclave.settings, and only the environment
given (any DJANGO_* variable of the test run itself is left out)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# DEBUG off, and a secret key long and varied enough for check --deploy: what every production start needs.
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "k" * 20 + "a-long-random-production-secret-0123456789",
}


def manage(*args, **env):
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean_env.update(env, DJANGO_SETTINGS_MODULE="conclave.settings")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def check_deploy(**env):
    """``manage.py check --deploy`` failing on warnings too, with the production environment and ``env``."""
    # The settings are under test, not the Redis server of the run (whose eviction policy has a check of
    # its own, in tests/test_pagecache.py): on CI's Redis that check rightly warns.
    env = {**PRODUCTION_ENV, "CACHE_URL": "locmemcache://", **env}
    return manage("check", "--deploy", "--fail-level", "WARNING", **env)
