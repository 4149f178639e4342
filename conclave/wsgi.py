"""WSGI entry point (gunicorn conclave.wsgi; runserver serves it too).

The web process, and only it, bounds every database statement's time (conclave/database.py):
management commands never import this module.
"""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from conclave.database import limit_statement_time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conclave.settings")

limit_statement_time(settings.DATABASES, settings.DATABASE_STATEMENT_TIMEOUT)
application = get_wsgi_application()
