"""Rich results of live coverage (issue 20): the JSON-LD of a live story, and of one whose coverage ended,
checked against schema.org's own definitions (release 30.0, vendored in tests/corpora/schemaorg) by
tests/support/schemaorg.py, and against what Google asks of a live blog. The validator is shown to fail
on a wrong property, a property on the wrong type, a value of the wrong type, at any depth.
"""

import copy
import json
import re

import pytest

from articles import live
from articles.models import Article
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory, library_image
from tests.support import schemaorg

pytestmark = pytest.mark.django_db

LONG_FIRST_SENTENCE = (
    "The chief executive walks on stage to a standing ovation and spends the first ten minutes thanking "
    "the engineers who rebuilt the storage layer after the outage in March. Then the products."
)


def json_ld(html):
    (block,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return json.loads(block)


@pytest.fixture
def keynote(django_user_model):
    editor = django_user_model.objects.create_user("desk", is_staff=True, is_superuser=True)
    story = ArticleFactory(
        title="The Helix keynote, live",
        slug="helix-keynote-live",
        standfirst="Every announcement as it happens.",
        body="Helix holds its yearly keynote in San Francisco.\n\n## What to expect\n\nThree products.",
        coverage=Article.Coverage.LIVE,
        section=SectionFactory(name="Cloud", slug="cloud"),
        tags=[TagFactory(name="Helix", slug="helix")],
        authors=[AuthorFactory(name="Ada Brooks", slug="ada-brooks")],
        hero=library_image(alt="The stage before the keynote", credit="Agency photo"),
    )
    AuthorFactory(name="Desk Editor", slug="desk-editor", user=editor)
    live.post(story, editor, "Doors open. The hall is full.")
    live.post(story, editor, LONG_FIRST_SENTENCE, is_key_point=True)
    live.post(story, editor, "**Helix Cloud 2** is announced: [the details](https://example.com/helix-2).")
    return story


def data_of(client, story):
    response = client.get(story.get_absolute_url())
    assert response.status_code == 200
    return json_ld(response.content.decode())


def test_the_vocabulary_is_schema_org_s_and_small():
    vocab = schemaorg.vocabulary()
    assert schemaorg.VOCABULARY.stat().st_size < 1_000_000
    assert {"LiveBlogPosting", "BlogPosting", "NewsArticle", "Person", "ImageObject"} <= vocab.classes
    assert {"coverageStartTime", "coverageEndTime", "liveBlogUpdate", "headline"} <= vocab.properties
    assert {"Text", "URL", "DateTime", "Date", "Number", "Integer", "Boolean"} <= vocab.datatypes
    assert vocab.lineage("LiveBlogPosting") >= {
        "BlogPosting",
        "SocialMediaPosting",
        "Article",
        "CreativeWork",
    }


def test_a_live_story_s_json_ld_is_valid_schema_org_and_a_google_live_blog(client, keynote):
    data = data_of(client, keynote)
    assert data["@type"] == "LiveBlogPosting" and len(data["liveBlogUpdate"]) == 3
    assert schemaorg.problems(data) == []
    assert schemaorg.live_blog_problems(data, ended=False) == []
    # The publisher is a NewsMediaOrganization: a schema.org term, still in its pending area.
    assert schemaorg.pending_terms(data) == {"NewsMediaOrganization"}
    # The long first sentence makes a headline cut to Google's limit.
    assert len(data["liveBlogUpdate"][1]["headline"]) <= schemaorg.HEADLINE_LIMIT


def test_an_ended_story_s_json_ld_is_valid_and_says_when_it_ended(client, keynote):
    keynote.coverage = Article.Coverage.ENDED
    keynote.save()
    data = data_of(client, keynote)
    assert "coverageEndTime" in data
    assert schemaorg.problems(data) == []
    assert schemaorg.live_blog_problems(data, ended=True) == []


def test_a_live_story_without_updates_yet_is_valid_schema_org(client):
    story = ArticleFactory(coverage=Article.Coverage.LIVE)
    data = data_of(client, story)
    assert schemaorg.problems(data) == []
    # Google wants updates: a story with none is not yet a live blog result, and the check says so.
    assert schemaorg.live_blog_problems(data, ended=False) == ["liveBlogUpdate: no updates"]


def mutated(data, change):
    data = copy.deepcopy(data)
    change(data)
    return data


def setter(path, value):
    def change(data):
        *parents, last = path
        node = data
        for key in parents:
            node = node[key]
        node[last] = value

    return change


# Each mistake, and the start of the one line the validator must report for it.
SCHEMA_MISTAKES = {
    "a property schema.org does not have": (
        setter(["coverageStart"], "2026-03-02T17:00:00+00:00"),
        "$.coverageStart: 'coverageStart' is not a schema.org property",
    ),
    "a misspelt type": (
        setter(["@type"], "LiveBlogPost"),
        "$: @type 'LiveBlogPost' is not a schema.org class",
    ),
    "a data type as a type": (setter(["@type"], "Text"), "$: @type 'Text' is not a schema.org class"),
    "a property of another type": (
        setter(["liveBlogUpdate", 0, "liveBlogUpdate"], []),
        "$.liveBlogUpdate[0].liveBlogUpdate: not a property of BlogPosting",
    ),
    "an event's property on an article": (
        setter(["startDate"], "2026-03-02T17:00:00+00:00"),
        "$.startDate: not a property of LiveBlogPosting",
    ),
    "a date and time that is not one": (
        setter(["coverageStartTime"], "yesterday at five"),
        "$.coverageStartTime: 'yesterday at five' is not a valid DateTime",
    ),
    "a date without a time where a DateTime is due": (
        setter(["coverageStartTime"], "2026-03-02"),
        "$.coverageStartTime: '2026-03-02' is not a valid DateTime",
    ),
    "an impossible date": (
        setter(["liveBlogUpdate", 0, "datePublished"], "2026-02-30T10:00:00+00:00"),
        "$.liveBlogUpdate[0].datePublished: '2026-02-30T10:00:00+00:00' is not a valid Date or DateTime",
    ),
    "a relative URL": (
        setter(["liveBlogUpdate", 0, "url"], "/news/helix-keynote-live/#update-1"),
        "$.liveBlogUpdate[0].url: '/news/helix-keynote-live/#update-1' is not a valid URL",
    ),
    "a script URL": (
        setter(["url"], "javascript:alert(1)"),
        "$.url: 'javascript:alert(1)' is not a valid URL",
    ),
    "a number where text is due": (setter(["headline"], 42), "$.headline: 42 is not a valid Text"),
    "a null": (setter(["dateModified"], None), "$.dateModified: null"),
    "an update of the wrong class": (
        setter(["liveBlogUpdate", 0, "@type"], "Event"),
        "$.liveBlogUpdate[0]: a Event where BlogPosting is expected",
    ),
    "an author who is a place": (
        setter(["author", 0, "@type"], "Place"),
        "$.author[0]: a Place where Organization or Person is expected",
    ),
    "an author who is only a name": (
        setter(["author", 0], "Ada Brooks"),
        "$.author[0]: 'Ada Brooks' is not a valid",
    ),
    "an object where text is due": (
        setter(["headline"], {"@type": "Thing", "name": "x"}),
        "$.headline: a Thing where <a data type> is expected",
    ),
    "a wrong property deep down": (
        setter(["publisher", "logo", "pixels"], 512),
        "$.publisher.logo.pixels: 'pixels' is not a schema.org property",
    ),
    "another vocabulary": (setter(["@context"], "https://example.com/vocab"), "$: @context"),
}


@pytest.mark.parametrize("mistake", SCHEMA_MISTAKES)
def test_the_validator_finds_each_mistake(client, keynote, mistake):
    change, expected = SCHEMA_MISTAKES[mistake]
    found = schemaorg.problems(mutated(data_of(client, keynote), change))
    # The mistake first; an object of the wrong class also has properties its class lacks.
    assert found and found[0].startswith(expected), found
    assert len(found) == 1 or mistake == "an update of the wrong class", found


GOOGLE_MISTAKES = {
    "no coverageStartTime": (lambda d: d.pop("coverageStartTime"), "coverageStartTime: None"),
    "a start without its offset": (
        setter(["coverageStartTime"], "2026-03-02T17:00:00"),
        "coverageStartTime: '2026-03-02T17:00:00' is no date and time with an offset",
    ),
    "an end while it runs": (
        setter(["coverageEndTime"], "2026-03-02T19:00:00+00:00"),
        "coverageEndTime: given",
    ),
    "an update's headline of 111 characters": (
        setter(["liveBlogUpdate", 0, "headline"], "x" * 111),
        "liveBlogUpdate[0].headline:",
    ),
    "an update without datePublished": (
        lambda d: d["liveBlogUpdate"][2].pop("datePublished"),
        "liveBlogUpdate[2].datePublished: None",
    ),
    "an update without its text": (
        lambda d: d["liveBlogUpdate"][1].pop("articleBody"),
        "liveBlogUpdate[1].articleBody",
    ),
    "no updates": (setter(["liveBlogUpdate"], []), "liveBlogUpdate: no updates"),
}


@pytest.mark.parametrize("mistake", GOOGLE_MISTAKES)
def test_the_live_blog_check_finds_each_mistake(client, keynote, mistake):
    change, expected = GOOGLE_MISTAKES[mistake]
    found = schemaorg.live_blog_problems(mutated(data_of(client, keynote), change), ended=False)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_an_ended_coverage_without_its_end_fails_the_live_blog_check(client, keynote):
    keynote.coverage = Article.Coverage.ENDED
    keynote.save()
    data = data_of(client, keynote)
    assert schemaorg.live_blog_problems(mutated(data, lambda d: d.pop("coverageEndTime")), ended=True) == [
        "coverageEndTime: None is no date and time with an offset, and the coverage ended"
    ]
    early = mutated(data, setter(["coverageEndTime"], "2000-01-01T00:00:00+00:00"))
    assert schemaorg.live_blog_problems(early, ended=True) == ["coverageEndTime: before coverageStartTime"]
