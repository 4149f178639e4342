from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static as static_url
from django.urls import include, path

admin.site.site_header = "Conclave TechMedia newsroom"
admin.site.site_title = "Conclave TechMedia admin"
admin.site.index_title = "Newsroom"

# Any exception no view handled: the 500 page, or a 503 while the database is out of reach.
handler500 = "conclave.middleware.server_error"


def favicon(request):
    # Browsers, feed readers and bots ask for /favicon.ico whatever a page links to; the hashed name
    # is looked up per request, so this module loads before collectstatic has run.
    return HttpResponsePermanentRedirect(static_url("img/favicon.ico"))


urlpatterns = [
    path("favicon.ico", favicon),
    path(settings.ADMIN_URL, admin.site.urls),
    # Crawlers look for these at the root, by names without a namespace.
    path("", include("articles.sitemaps")),
    path("", include("articles.urls")),
]

if settings.DEBUG:
    # In production the web server or object storage serves uploads.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
