"""Settings for the HTTP benchmarks (bench/http_pages.py): the project's own, plus a floor URL.

Everything comes from conclave/settings.py and the environment, exactly as under `make serve`; only
two things differ:

* ROOT_URLCONF adds /bench/floor/ (bench/urls.py), which exists for the benchmarks alone;
* STATIC_ROOT may point at a folder of the benchmark's own (BENCH_STATIC_ROOT), so that its
  collectstatic never rewrites the project's staticfiles/ under someone else's `make serve`.

    DJANGO_SETTINGS_MODULE=bench.settings .venv/bin/gunicorn --config conclave/gunicorn.conf.py conclave.wsgi
"""

import os
from pathlib import Path

from conclave.settings import *  # noqa: F403
from conclave.settings import STATIC_ROOT as SITE_STATIC_ROOT

ROOT_URLCONF = "bench.urls"
STATIC_ROOT = (
    Path(os.environ["BENCH_STATIC_ROOT"]) if os.environ.get("BENCH_STATIC_ROOT") else SITE_STATIC_ROOT
)
