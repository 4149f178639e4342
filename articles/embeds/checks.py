"""EMBEDS_TEST_RESOLVE sends provider hosts to a local fake server: it has no place outside the tests."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def test_resolve_only_in_tests(app_configs, **kwargs):
    if getattr(settings, "EMBEDS_TEST_RESOLVE", None) and not getattr(settings, "TESTING", False):
        return [
            Error(
                "EMBEDS_TEST_RESOLVE is set outside the test settings.",
                hint="It points provider hosts at a local fake server; remove it (it is honoured only "
                "when TESTING is true, so embeds would fail rather than reach it).",
                id="articles.E001",
            )
        ]
    return []
