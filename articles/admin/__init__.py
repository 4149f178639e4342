"""The newsroom's admin. Django imports this package at start-up (admin autodiscovery), which registers
every model admin of its modules."""

from django.contrib import admin
from taggit.models import Tag as TaggitTag

from articles.admin import (  # noqa: F401 -- each registers its admins
    articles,
    edge,
    embeds,
    library,
    live,
    newsroom,
    subscribers,
)

# We use our own Tag model; taggit's stock one would only confuse editors.
if admin.site.is_registered(TaggitTag):
    admin.site.unregister(TaggitTag)
