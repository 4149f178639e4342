"""ASGI entry point. Like conclave/wsgi.py, the web process bounds every database statement's time
(conclave/database.py)."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

from conclave.database import limit_statement_time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conclave.settings")

limit_statement_time(settings.DATABASES, settings.DATABASE_STATEMENT_TIMEOUT)
application = get_asgi_application()
