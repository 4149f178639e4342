"""The answer to a sign-in locked by django-axes (AXES_LOCKOUT_CALLABLE): site-wide, not the news app's."""

import datetime

from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse

MINUTE = datetime.timedelta(minutes=1)


def login_locked_out(request, response, credentials):
    """django-axes' answer to a locked sign-in: the admin's own page (its header and themes), 429, and
    when to try again. The same answer for a right or a wrong password until the lock lifts."""
    cool_off = settings.AXES_COOLOFF_TIME
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,  # as on the login page: the visitor is not signed in
        "title": "Too many failed sign-in attempts",
        "lock_minutes": cool_off // MINUTE,
    }
    # Rendered here: axes hands it back after the point where Django renders template responses.
    locked = TemplateResponse(request, "admin/locked_out.html", context, status=429).render()
    locked["Retry-After"] = str(int(cool_off.total_seconds()))
    return locked
