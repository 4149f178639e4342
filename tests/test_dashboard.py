"""The admin index as a newsroom dashboard: drafts waiting, next scheduled, published in the last 24 hours."""

import datetime
import re

import html5lib
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from articles.models import Article
from articles.templatetags.newsroom_admin import ago, from_now
from tests.factories import ArticleFactory, AuthorFactory

INDEX = reverse("admin:index")
# A fixed "now", so relative times read exactly ("in 3 hours", not "in 2 hours" a moment later).
NOW = datetime.datetime(2031, 3, 14, 9, 0, tzinfo=datetime.UTC)
PANELS = ("newsroom-drafts", "newsroom-scheduled", "newsroom-recent")


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


def staff_in(group, django_user_model, username, **fields):
    user = django_user_model.objects.create_user(
        username, password="correct horse battery", is_staff=True, **fields
    )
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def editor_user(db, django_user_model):
    return staff_in("Editor", django_user_model, "eddie")


@pytest.fixture
def writer_user(db, django_user_model):
    return staff_in("Writer", django_user_model, "wanda", first_name="Wanda", last_name="Writer")


def draft(title, created_by=None, updated=None, **fields):
    article = ArticleFactory(title=title, status=Article.Status.DRAFT, published_at=None, **fields)
    # auto_now stamps updated_at on every save; set it behind the model's back.
    Article.objects.filter(pk=article.pk).update(created_by=created_by, updated_at=updated or NOW)
    return article


def published(title, at, **fields):
    return ArticleFactory(title=title, published_at=at, **fields)


def index_for(client, user):
    client.force_login(user)
    response = client.get(INDEX)
    assert response.status_code == 200
    return html5lib.parse(response.content.decode(), namespaceHTMLElements=False)


def panel(doc, panel_id):
    return doc.find(f".//div[@id='{panel_id}']")


def text(element):
    return re.sub(r"\s+", " ", "".join(element.itertext())).strip()


def titles(doc, panel_id):
    """The story titles a panel lists, in order."""
    return [a.text for a in panel(doc, panel_id).findall(".//tbody/tr/th/a")]


def see_all(doc, panel_id):
    return panel(doc, panel_id).find(".//p[@class='see-all']/a").get("href")


def test_an_editor_sees_drafts_the_schedule_and_the_last_day(client, editor_user):
    author = AuthorFactory(name="Ada Reporter")
    waiting = draft("Chip draft", authors=[author], updated=NOW - datetime.timedelta(hours=2, minutes=5))
    upcoming = published("Launch embargo", NOW + datetime.timedelta(hours=3))
    fresh = published("Fresh story", NOW - datetime.timedelta(hours=2), authors=[author])
    published("Old story", NOW - datetime.timedelta(days=3))

    doc = index_for(client, editor_user)

    assert titles(doc, "newsroom-drafts") == ["Chip draft"]
    drafts = text(panel(doc, "newsroom-drafts"))
    # A glance wants the largest unit only.
    assert "By Ada Reporter" in drafts and "updated 2 hours ago" in drafts
    assert titles(doc, "newsroom-scheduled") == ["Launch embargo"]
    assert "Fri 14 Mar, 12:00 UTC in 3 hours" in text(panel(doc, "newsroom-scheduled"))
    # Scheduled is not published yet, and three days ago is not the last 24 hours.
    assert titles(doc, "newsroom-recent") == ["Fresh story"]
    recent = text(panel(doc, "newsroom-recent"))
    assert "Published in the last 24 hours (1)" in recent and "07:00 UTC 2 hours ago" in recent
    assert "Old story" not in text(doc.find(".//div[@class='newsroom']"))

    links = {a.get("href") for a in doc.iterfind(".//div[@class='newsroom']//a")}
    for article in (waiting, upcoming, fresh):
        assert reverse("admin:articles_article_change", args=[article.pk]) in links
    assert fresh.get_absolute_url() in links


def test_panels_are_in_order_and_hold_ten_with_the_total_count(client, editor_user):
    for hour in range(1, 13):
        draft(f"Draft {hour}", updated=NOW - datetime.timedelta(hours=hour))
        published(f"Scheduled {hour}", NOW + datetime.timedelta(hours=hour))
        published(f"Recent {hour}", NOW - datetime.timedelta(minutes=hour * 100))

    doc = index_for(client, editor_user)

    assert titles(doc, "newsroom-drafts") == [f"Draft {hour}" for hour in range(1, 11)]
    assert titles(doc, "newsroom-scheduled") == [f"Scheduled {hour}" for hour in range(1, 11)]
    assert titles(doc, "newsroom-recent") == [f"Recent {hour}" for hour in range(1, 11)]
    # 12 × 100 minutes is 20 hours: all twelve count, ten are listed.
    assert "Published in the last 24 hours (12)" in text(panel(doc, "newsroom-recent"))
    assert "See all 12 published" in text(panel(doc, "newsroom-recent"))


def test_a_writer_sees_only_the_drafts_they_created(client, writer_user, editor_user):
    draft("Wanda's draft", created_by=writer_user)
    draft("Someone else's draft", created_by=editor_user)

    doc = index_for(client, writer_user)
    assert titles(doc, "newsroom-drafts") == ["Wanda's draft"]
    drafts = text(panel(doc, "newsroom-drafts"))
    # No byline yet: who created it stands in.
    assert "Your drafts waiting" in drafts and "Created by Wanda Writer" in drafts

    # The control: an editor sees everyone's.
    doc = index_for(client, editor_user)
    assert sorted(titles(doc, "newsroom-drafts")) == ["Someone else's draft", "Wanda's draft"]


def test_empty_panels_say_so_and_still_link_to_the_list(client, editor_user):
    published("Old story", NOW - datetime.timedelta(days=3))

    doc = index_for(client, editor_user)

    for panel_id, empty in zip(
        PANELS,
        ["No drafts waiting.", "Nothing scheduled.", "Nothing published in the last 24 hours."],
        strict=True,
    ):
        assert titles(doc, panel_id) == []
        assert text(panel(doc, panel_id).find(".//tbody")) == empty
        assert see_all(doc, panel_id).startswith(reverse("admin:articles_article_changelist") + "?")


@pytest.mark.parametrize("who", ["editor", "writer"])
def test_see_all_opens_the_changelist_filtered_to_the_panel(client, who, writer_user, editor_user):
    user = {"editor": editor_user, "writer": writer_user}[who]
    draft("Wanda's draft", created_by=writer_user)
    draft("Someone else's draft", created_by=editor_user)
    published("Launch embargo", NOW + datetime.timedelta(hours=3))
    published("Fresh story", NOW - datetime.timedelta(hours=2))
    published("Old story", NOW - datetime.timedelta(days=3))
    expected = {
        "newsroom-drafts": {"Wanda's draft"}
        if who == "writer"
        else {"Wanda's draft", "Someone else's draft"},
        "newsroom-scheduled": {"Launch embargo"},
        "newsroom-recent": {"Fresh story"},
    }

    doc = index_for(client, user)

    for panel_id in PANELS:
        response = client.get(see_all(doc, panel_id))
        assert response.status_code == 200, panel_id
        assert {article.title for article in response.context["cl"].result_list} == expected[panel_id]


@pytest.mark.parametrize(
    "when, expected",
    [
        pytest.param(NOW - datetime.timedelta(seconds=20), "just now", id="seconds-ago"),
        pytest.param(NOW - datetime.timedelta(hours=2, minutes=5), "2\xa0hours ago", id="hours-ago"),
        pytest.param(
            NOW - datetime.timedelta(hours=2, minutes=59, seconds=50), "3\xa0hours ago", id="rounded-ago"
        ),
        pytest.param(NOW - datetime.timedelta(days=3), "3\xa0days ago", id="days-ago"),
        pytest.param(NOW + datetime.timedelta(seconds=20), "in under a minute", id="seconds-ahead"),
        pytest.param(NOW + datetime.timedelta(hours=3, seconds=-2), "in 3\xa0hours", id="rounded-ahead"),
        pytest.param(NOW + datetime.timedelta(hours=3, minutes=20), "in 3\xa0hours", id="hours-ahead"),
        pytest.param(NOW + datetime.timedelta(days=2, hours=1), "in 2\xa0days", id="days-ahead"),
    ],
)
def test_relative_times_give_the_nearest_largest_unit(when, expected):
    assert (ago if when < NOW else from_now)(when) == expected


def test_times_are_shown_in_the_sites_time_zone(client, editor_user, settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # UTC+05:30 all year
    published("Launch embargo", NOW + datetime.timedelta(hours=3))

    doc = index_for(client, editor_user)

    row = panel(doc, "newsroom-scheduled").find(".//tbody/tr")
    assert "Fri 14 Mar, 17:30 IST" in text(row)
    assert row.find(".//time").get("datetime") == "2031-03-14T17:30:00+05:30"


def test_staff_without_article_permissions_get_no_dashboard(client, django_user_model):
    published("Fresh story", NOW - datetime.timedelta(hours=2))
    clerk = django_user_model.objects.create_user("clerk", password="correct horse battery", is_staff=True)

    doc = index_for(client, clerk)

    assert all(panel(doc, panel_id) is None for panel_id in PANELS)
    assert "Fresh story" not in text(doc.find(".//body"))


def test_the_dashboard_costs_the_same_few_queries_however_full(
    client, editor_user, django_assert_max_num_queries
):
    authors = [AuthorFactory(), AuthorFactory()]
    for hour in range(1, 13):
        draft(f"Draft {hour}", created_by=editor_user, authors=authors)
        draft(f"Unsigned draft {hour}", created_by=editor_user)
        published(f"Scheduled {hour}", NOW + datetime.timedelta(hours=hour), authors=authors)
        published(f"Recent {hour}", NOW - datetime.timedelta(hours=hour), authors=authors)
    client.force_login(editor_user)

    # The stock index costs five (session, user, two for permissions, recent actions); the dashboard adds
    # five more: three lists, one count, one prefetch of the authors of all of them.
    with django_assert_max_num_queries(10):
        response = client.get(INDEX)
    assert response.status_code == 200
    doc = html5lib.parse(response.content.decode(), namespaceHTMLElements=False)
    assert len(titles(doc, "newsroom-drafts")) == 10
    assert "Created by eddie" in text(panel(doc, "newsroom-drafts"))
