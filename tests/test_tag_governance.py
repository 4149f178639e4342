"""Tag governance: merging tags, renaming them, and old tag addresses that keep working."""

import re

import html5lib
import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from articles.following.tokens import make_token
from articles.models import Follow, FollowRequest, Subscriber, Tag, TaggedArticle, TagRedirect
from articles.tag_governance import MergeError, merge_tags, resolve_tag_slug
from tests.factories import ArticleFactory, TagFactory

CHANGELIST = reverse("admin:articles_tag_changelist")


def tag(name):
    """A topic whose page is public whether or not a story is published with it yet (Tag.show_early)."""
    return TagFactory(name=name, slug=name.lower().replace(" ", "-"), show_early=True)


def reader(email, *tags, confirmed=True):
    person = Subscriber.objects.create(email=email, confirmed_at=timezone.now() if confirmed else None)
    for followed in tags:
        Follow.objects.create(subscriber=person, tag=followed)
    return person


def followed_slugs(person):
    return sorted(person.follows.values_list("tag__slug", flat=True))


def tag_slugs(article):
    return sorted(TaggedArticle.objects.filter(content_object=article).values_list("tag__slug", flat=True))


def messages_of(response):
    """The messages a response leaves for the editor (shown on the page a redirect leads to)."""
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def parse(response):
    return html5lib.parse(response.content, namespaceHTMLElements=False)


def text(element):
    return " ".join("".join(element.itertext()).split())


def form_data(response, form_id):
    """What a browser would submit from the form as rendered, without pressing a particular button."""
    form = parse(response).find(f".//form[@id='{form_id}']")
    data = {}
    for field in form.iter("input"):
        kind, name = field.get("type", "text"), field.get("name")
        if not name or kind in {"submit", "button", "file", "image", "reset"}:
            continue
        if kind in {"checkbox", "radio"} and field.get("checked") is None:
            continue
        data[name] = field.get("value", "on" if kind == "checkbox" else "")
    for field in form.iter("textarea"):
        data[field.get("name")] = field.text or ""
    for field in form.iter("select"):
        chosen = [option for option in field.iter("option") if option.get("selected") is not None]
        data[field.get("name")] = chosen[0].get("value") if chosen else ""
    return data


def staff(django_user_model, username, group):
    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def editor_client(client, django_user_model):
    """A member of the Editor group (not a superuser): change_tag and delete_tag."""
    client.force_login(staff(django_user_model, "eddie", "Editor"))
    return client


@pytest.fixture
def writer_client(client, django_user_model):
    """A member of the Writer group: may look at tags, not change them."""
    client.force_login(staff(django_user_model, "wren", "Writer"))
    return client


# merge_tags and the public addresses


def test_the_old_address_answers_301_to_the_kept_tag_with_its_query_string(client, db):
    ai, machine_learning = tag("AI"), tag("Machine learning")
    ArticleFactory.create_batch(2, tags=[machine_learning])
    merge_tags(ai, [machine_learning])

    response = client.get("/tags/machine-learning/")
    assert (response.status_code, response["Location"]) == (301, "/tags/ai/")
    response = client.get("/tags/machine-learning/", {"page": "2"})
    assert (response.status_code, response["Location"]) == (301, "/tags/ai/?page=2")
    assert client.get("/tags/ai/").status_code == 200
    assert client.get("/tags/no-such-tag/").status_code == 404
    assert not Tag.objects.filter(slug="machine-learning").exists()
    assert resolve_tag_slug("machine-learning") == (ai, True)
    assert resolve_tag_slug("ai") == (ai, False)


def test_an_old_unicode_address_redirects_to_an_encoded_location(client, db):
    ai, ki = tag("AI"), TagFactory(name="Künstliche Intelligenz", slug="künstliche-intelligenz")
    merge_tags(ai, [ki])
    response = client.get("/tags/k%C3%BCnstliche-intelligenz/")
    assert (response.status_code, response["Location"]) == (301, "/tags/ai/")
    kept = TagFactory(name="Künstliche Intelligenz 2", slug="ki")
    merge_tags(TagFactory(name="Über", slug="über", show_early=True), [kept])
    assert client.get("/tags/ki/")["Location"] == "/tags/%C3%BCber/"


def test_follows_move_to_the_kept_tag_without_duplicate_rows(db):
    ai, ml, dl = tag("AI"), tag("ML"), tag("DL")
    only_old = reader("ada@example.com", ml)
    both = reader("bo@example.com", ai, ml)
    two_old = reader("cy@example.com", ml, dl, confirmed=False)
    unrelated = reader("di@example.com", tag("Phones"))

    summary = merge_tags(ai, [ml, dl])

    assert followed_slugs(only_old) == ["ai"]
    assert followed_slugs(both) == ["ai"]
    assert followed_slugs(two_old) == ["ai"]
    assert followed_slugs(unrelated) == ["phones"]
    assert Follow.objects.filter(tag=ai).count() == 3
    assert (summary.follows_moved, summary.duplicates_dropped) == (2, 2)


def test_articles_tagged_with_both_end_with_one_tagging(db):
    ai, ml, dl = tag("AI"), tag("ML"), tag("DL")
    only_old = ArticleFactory(tags=[ml])
    both = ArticleFactory(tags=[ai, ml])
    two_old = ArticleFactory(tags=[ml, dl, tag("Chips")])

    summary = merge_tags(ai, [ml, dl])

    assert tag_slugs(only_old) == ["ai"]
    assert tag_slugs(both) == ["ai"]
    assert tag_slugs(two_old) == ["ai", "chips"]
    assert TaggedArticle.objects.filter(tag=ai).count() == 3
    assert (summary.articles_moved, summary.duplicates_dropped) == (2, 2)
    assert summary.describe() == (
        "Merged “DL” and “ML” into “AI”: 2 articles and 0 follows moved, 2 duplicates dropped. "
        "/tags/dl/ and /tags/ml/ now redirect to /tags/ai/."
    )


def test_a_chained_merge_redirects_the_first_address_straight_to_the_last_tag(client, db):
    a, b, c = tag("A"), tag("B"), tag("C")
    merge_tags(b, [a])
    merge_tags(c, [b])

    for old in ["a", "b"]:
        response = client.get(f"/tags/{old}/")
        assert (response.status_code, response["Location"]) == (301, "/tags/c/")
    assert dict(TagRedirect.objects.values_list("old_slug", "tag__slug")) == {"a": "c", "b": "c"}


def test_a_renamed_tag_merged_later_redirects_its_first_address_too(client, db):
    ai, old = tag("AI"), tag("Neural nets")
    old.slug = "neural-networks"
    old.save()
    merge_tags(ai, [old])
    for address in ["/tags/neural-nets/", "/tags/neural-networks/"]:
        assert client.get(address)["Location"] == "/tags/ai/"


@pytest.mark.parametrize("suffix", ["feed/", "feed/atom/"])
def test_feeds_of_a_merged_tag_redirect_to_the_kept_tags_feeds(client, db, suffix):
    ai, ml = tag("AI"), tag("ML")
    ArticleFactory(title="Kept story", tags=[ml])
    merge_tags(ai, [ml])

    response = client.get(f"/tags/ml/{suffix}")
    assert (response.status_code, response["Location"]) == (301, f"/tags/ai/{suffix}")
    feed = client.get(response["Location"])
    assert feed.status_code == 200 and b"Kept story" in feed.content
    assert client.get(f"/tags/no-such-tag/{suffix}").status_code == 404


def test_following_at_an_old_address_follows_the_kept_tag(client, db):
    ai, ml = tag("AI"), tag("ML")
    merge_tags(ai, [ml])

    response = client.get("/tags/ml/follow/")
    assert (response.status_code, response["Location"]) == (301, "/tags/ai/follow/")
    # A POST from a tag page rendered before the merge is handled for the kept tag, not bounced.
    response = client.post("/tags/ml/follow/", {"email": "reader@example.com", "frequency": "immediate"})
    assert response.status_code == 200
    assert FollowRequest.objects.get().tag == ai
    assert mail.outbox[0].subject == "Confirm you want stories about AI"
    assert client.post("/tags/no-such-tag/follow/", {"email": "reader@example.com"}).status_code == 404


def test_a_confirmation_link_mailed_before_a_merge_follows_the_kept_tag(client, db):
    ai, ml = tag("AI"), tag("ML")
    client.post("/tags/ml/follow/", {"email": "reader@example.com", "frequency": "daily"})
    link = re.search(r"https://[^/\s]+(/follow/confirm/[^/\s]+/)", mail.outbox[0].body).group(1)
    merge_tags(ai, [ml])
    assert client.post(link, {"frequency": "daily"}).status_code == 200
    assert followed_slugs(Subscriber.objects.get()) == ["ai"]


def test_an_add_link_mailed_before_a_merge_offers_the_kept_tag(client, db):
    ai, ml = tag("AI"), tag("ML")
    person = reader("ada@example.com", tag("Phones"))
    merge_tags(ai, [ml])

    page = parse(client.get(f"/follow/manage/{make_token(person, 'manage')}/", {"add": "ml"}))
    [chosen] = page.findall(".//select[@name='add']//option[@selected]")
    assert chosen.get("value") == "tag:ai"


def test_merging_needs_another_tag_that_still_exists(db):
    ai = tag("AI")
    with pytest.raises(MergeError):
        merge_tags(ai, [])
    with pytest.raises(MergeError):
        merge_tags(ai, [ai])
    gone = tag("Gone")
    Tag.objects.filter(pk=gone.pk).delete()
    with pytest.raises(MergeError):
        merge_tags(ai, [gone])
    assert list(Tag.objects.values_list("slug", flat=True)) == ["ai"]


# Renaming in the admin


def test_renaming_a_tag_in_the_admin_keeps_its_slug(editor_client):
    ai = tag("AI")
    ArticleFactory(tags=[ai])
    add_form = editor_client.get(reverse("admin:articles_tag_add"))
    assert [field["field"].name for field in add_form.context["adminform"].prepopulated_fields] == ["slug"]

    url = reverse("admin:articles_tag_change", args=[ai.pk])
    change_form = editor_client.get(url)
    assert change_form.context["adminform"].prepopulated_fields == []
    data = form_data(change_form, "tag_form")
    assert (data["name"], data["slug"]) == ("AI", "ai")
    data.update(name="Artificial intelligence", description="All about *AI*.")
    response = editor_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    ai.refresh_from_db()
    assert (ai.name, ai.slug) == ("Artificial intelligence", "ai")
    assert "<em>AI</em>" in ai.description_html
    assert not TagRedirect.objects.exists()
    assert editor_client.get("/tags/ai/").status_code == 200


def test_changing_a_slug_in_the_admin_redirects_the_old_one(editor_client, client):
    ai = tag("AI")
    url = reverse("admin:articles_tag_change", args=[ai.pk])
    data = form_data(editor_client.get(url), "tag_form")
    data["slug"] = "artificial-intelligence"
    assert editor_client.post(url, data).status_code == 302

    response = client.get("/tags/ai/")
    assert (response.status_code, response["Location"]) == (301, "/tags/artificial-intelligence/")
    assert "/tags/ai/" in text(parse(editor_client.get(url)).find(".//div[@class='readonly']"))


def test_a_new_tag_at_a_redirected_address_wins_over_the_redirect(editor_client, client):
    ai, ml = tag("AI"), tag("ML")
    merge_tags(ai, [ml])
    assert client.get("/tags/ml/").status_code == 301

    add_url = reverse("admin:articles_tag_add")
    data = form_data(editor_client.get(add_url), "tag_form")
    data.update(name="ML", slug="ml")
    assert editor_client.post(add_url, data).status_code == 302
    # Until a story is published with it, the new tag's address is no page, and no longer a redirect.
    assert client.get("/tags/ml/").status_code == 404

    new_ml = Tag.objects.get(slug="ml")
    new_ml.show_early = True
    new_ml.save()
    response = client.get("/tags/ml/")
    assert response.status_code == 200
    assert response.context["subject"] == Tag.objects.get(slug="ml")
    assert not TagRedirect.objects.exists()
    assert client.get("/tags/ml/feed/").status_code == 200


# The merge action in the admin


def test_an_editor_merges_through_the_confirmation_page(editor_client, client):
    ai, ml, dl = tag("AI"), tag("Machine learning"), tag("Deep learning")
    ArticleFactory.create_batch(3, tags=[ml])
    ArticleFactory(tags=[ai, ml])
    ArticleFactory(tags=[dl])
    reader("ada@example.com", ai, ml)
    reader("bo@example.com", dl)
    selected = [ai.pk, ml.pk, dl.pk]

    page = editor_client.post(CHANGELIST, {"action": "merge_tags", "_selected_action": selected, "index": 0})
    assert page.status_code == 200
    assert page.templates[0].name == "admin/articles/tag/merge_tags.html"
    doc = parse(page)
    crumbs = [a.get("href") for a in doc.findall(".//div[@class='breadcrumbs']/a")]
    assert crumbs == ["/admin/", "/admin/articles/", CHANGELIST]
    form = doc.find(".//div[@id='content']//form")
    assert form.find(".//input[@name='csrfmiddlewaretoken']") is not None
    radios = form.findall(".//input[@name='keep']")
    labels = [text(doc.find(f".//label[@for='{radio.get('id')}']")) for radio in radios]
    assert labels == [
        "Machine learning (/tags/machine-learning/): 4 articles, 1 confirmed follower",
        "AI (/tags/ai/): 1 article, 1 confirmed follower",
        "Deep learning (/tags/deep-learning/): 1 article, 1 confirmed follower",
    ]
    checked = [radio.get("value") for radio in radios if radio.get("checked") is not None]
    assert checked == [str(ml.pk)]  # the most used tag by default
    assert Tag.objects.count() == 3  # asking changed nothing

    # The editor keeps AI rather than the default, and submits the form as rendered.
    data = {field.get("name"): [] for field in form.iter("input")}
    for field in form.iter("input"):
        if field.get("name") != "keep":
            data[field.get("name")].append(field.get("value"))
    data["keep"], data["apply"] = str(ai.pk), "yes"
    response = editor_client.post(CHANGELIST, data)
    assert response.status_code == 302
    assert messages_of(response) == [
        (
            "success",
            "Merged “Deep learning” and “Machine learning” into “AI”: 4 articles and 1 follow moved, "
            "2 duplicates dropped. /tags/deep-learning/ and /tags/machine-learning/ now redirect to "
            "/tags/ai/.",
        )
    ]
    assert list(Tag.objects.values_list("slug", flat=True)) == ["ai"]
    assert TaggedArticle.objects.filter(tag=ai).count() == 5
    assert Follow.objects.filter(tag=ai).count() == 2
    assert client.get("/tags/machine-learning/")["Location"] == "/tags/ai/"
    assert client.get("/tags/deep-learning/")["Location"] == "/tags/ai/"
    deleted = LogEntry.objects.filter(action_flag=DELETION).values_list("object_repr", flat=True)
    assert sorted(deleted) == ["Deep learning", "Machine learning"]


def test_a_writer_never_sees_the_action_and_a_forged_post_changes_nothing(writer_client):
    ai, ml = tag("AI"), tag("ML")
    ArticleFactory(tags=[ml])
    changelist = writer_client.get(CHANGELIST)
    assert changelist.status_code == 200
    assert b"merge_tags" not in changelist.content

    for data in [
        {"action": "merge_tags", "_selected_action": [ai.pk, ml.pk], "index": 0},
        {"action": "merge_tags", "_selected_action": [ai.pk, ml.pk], "keep": ai.pk, "apply": "yes"},
    ]:
        response = writer_client.post(CHANGELIST, data)
        assert response.status_code in (200, 302, 403)
        assert b"Keep which tag?" not in response.content
    assert sorted(Tag.objects.values_list("slug", flat=True)) == ["ai", "ml"]
    assert not TagRedirect.objects.exists()
    assert TaggedArticle.objects.get().tag == ml


@pytest.mark.parametrize(
    "codenames, offered",
    [
        (["view_tag"], False),
        (["view_tag", "change_tag"], False),
        (["view_tag", "delete_tag"], False),
        (["view_tag", "change_tag", "delete_tag"], True),
    ],
)
def test_the_action_needs_both_change_and_delete_permission(client, django_user_model, codenames, offered):
    user = django_user_model.objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="articles", codename__in=codenames)
    )
    client.force_login(user)
    ai, ml = tag("AI"), tag("ML")
    assert (b'value="merge_tags"' in client.get(CHANGELIST).content) is offered
    client.post(
        CHANGELIST,
        {"action": "merge_tags", "_selected_action": [ai.pk, ml.pk], "keep": ai.pk, "apply": "yes"},
    )
    assert Tag.objects.count() == (1 if offered else 2)


def test_merging_fewer_than_two_tags_is_an_error_and_changes_nothing(editor_client):
    ai = tag("AI")
    ArticleFactory(tags=[ai])
    for data in [
        {"action": "merge_tags", "_selected_action": [ai.pk], "index": 0},
        {"action": "merge_tags", "_selected_action": [ai.pk], "keep": ai.pk, "apply": "yes"},
    ]:
        response = editor_client.post(CHANGELIST, data, follow=True)
        assert response.redirect_chain == [(CHANGELIST, 302)]
        assert messages_of(response) == [("error", "Select at least two tags to merge.")]
    assert list(Tag.objects.values_list("slug", flat=True)) == ["ai"]
    assert TaggedArticle.objects.get().tag == ai


def test_applying_without_choosing_a_tag_asks_again(editor_client):
    ai, ml = tag("AI"), tag("ML")
    response = editor_client.post(
        CHANGELIST, {"action": "merge_tags", "_selected_action": [ai.pk, ml.pk], "apply": "yes"}
    )
    assert response.status_code == 200
    assert "Choose the tag to keep." in text(parse(response).find(".//p[@class='errornote']"))
    assert Tag.objects.count() == 2
