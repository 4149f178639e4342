"""Library images in a story's body: the Markdown that names them, figures, galleries, and where they go."""

import io
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from articles import figures, rendering
from articles.models import Article, Image
from tests.factories import ArticleFactory, jpeg_upload, library_image

pytestmark = pytest.mark.django_db


def figure_image(number=7, **overrides):
    values = {
        "id": number,
        "alt": "The board with its heat spreader off",
        "caption": "The Lattice board, bare",
        "credit": "Ada Brooks",
        "width": 1600,
        "height": 900,
        "avif_srcset": f"/media/i{number}-480.avif 480w, /media/i{number}-1600.avif 1600w",
        "webp_srcset": f"/media/i{number}-480.webp 480w, /media/i{number}-1600.webp 1600w",
        "jpeg_srcset": f"/media/i{number}-480.jpg 480w, /media/i{number}-1600.jpg 1600w",
        "fallback_url": f"/media/i{number}-480.jpg",
        "largest_url": f"/media/i{number}-1600.jpg",
        "focus_class": "focus-25-75",
    }
    return figures.FigureImage(**{**values, **overrides})


def render(body, *numbers, **overrides):
    media = rendering.StoryMedia(images={n: figure_image(n, **overrides) for n in numbers})
    return rendering.render_story(body, media)


def test_a_figure_line_becomes_a_figure_with_every_format_and_its_caption_and_credit():
    html = render("Intro.\n\nMore.\n\n![](image:7)\n\nAfter.", 7).html
    figure = re.search(r"<figure.*?</figure>", html).group(0)
    assert figure.startswith('<figure class="figure figure--inline">')
    assert '<a class="figure__link" href="/media/i7-1600.jpg">' in figure
    assert '<source type="image/avif" srcset="/media/i7-480.avif 480w, /media/i7-1600.avif 1600w"' in figure
    assert '<source type="image/webp"' in figure
    assert 'width="1600" height="900" alt="The board with its heat spreader off"' in figure
    assert 'loading="lazy"' in figure  # third block: below the first screen
    assert '<figcaption>The Lattice board, bare <span class="credit">Ada Brooks</span></figcaption>' in figure
    assert figure.index('type="image/avif"') < figure.index('type="image/webp"') < figure.index("<img")


def test_the_markdown_may_give_its_own_alt_text_caption_and_layout():
    html = render('![Close-up of the VRM](image:7 "Power stages, left"){.wide}', 7).html
    assert 'alt="Close-up of the VRM"' in html
    assert "<figcaption>Power stages, left " in html
    assert 'class="figure figure--wide"' in html
    assert 'class="figure figure--full-bleed"' in render("![](image:7){.full-bleed}", 7).html


def test_the_first_picture_near_the_top_is_not_lazy():
    html = render("![](image:7)\n\nText.\n\n![](image:8)", 7, 8).html
    first, second = re.findall(r"<img [^>]*>", html)
    assert "loading" not in first
    assert 'loading="lazy"' in second


def test_consecutive_figure_lines_make_one_gallery_with_every_picture_a_link():
    body = "Intro.\n\n![](image:1)\n![](image:2)\n![Third](image:3){.full-bleed}"
    rendered = render(body, 1, 2, 3)
    html = rendered.html
    assert html.count('<div class="gallery') == 1
    assert '<div class="gallery gallery--full-bleed" role="group" aria-label="Gallery of 3 images">' in html
    assert html.count('<li data-of="3"><figure class="figure figure--gallery">') == 3
    assert html.count('class="figure__link"') == 3
    assert 'sizes="(min-width: 40rem) 21rem, 100vw"' in html
    assert rendered.image_ids == (1, 2, 3)


def test_an_unknown_image_is_reported_and_not_shown():
    rendered = render("![](image:7)\n\n![](image:99)", 7)
    assert rendered.missing_image_ids == (99,)
    assert rendered.image_ids == (7,)
    assert "image:99" not in rendered.html


@pytest.mark.parametrize(
    "body",
    [
        "```\n![](image:7)\n```",
        "    ![](image:7)",
        "Text ![](image:7) in a sentence.",
        "![](image:7) and words after",
    ],
)
def test_only_a_figure_line_on_its_own_makes_a_figure(body):
    rendered = render(body, 7)
    assert "<figure" not in rendered.html
    assert "/media/" not in rendered.html


def test_a_body_cannot_forge_the_placeholder_or_write_its_own_picture():
    body = (
        "media0123456789abcdefx0\n\n<p>media0123456789abcdefx0</p>\n\n"
        '<picture><source srcset="https://tracker.example/p.gif"><img src="https://tracker.example/p.gif"></picture>'
    )
    html = render(body, 7).html
    assert "<source" not in html and "<picture" not in html
    assert "<figure" not in html


def test_hostile_alt_and_caption_are_escaped():
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(1)>'
    html = render("![](image:7)", 7, alt=hostile, caption=hostile, credit=hostile).html
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_a_story_shows_library_pictures_and_knows_which():
    first, second = library_image(alt="Board, top"), library_image(alt="Board, bottom")
    article = ArticleFactory(body=f"Intro.\n\n![](image:{first.pk})\n![](image:{second.pk})\n\nEnd.")
    assert set(article.figures.all()) == {first, second}
    assert list(first.used_in()) == [article]
    assert 'alt="Board, top"' in article.body_html
    assert first.largest_url in article.body_html


def test_changing_an_image_renders_the_stories_that_show_it_again():
    image = library_image(alt="Old alt text")
    article = ArticleFactory(body=f"![](image:{image.pk})")
    image.alt = "A clearer description"
    image.save()
    article.refresh_from_db()
    assert 'alt="A clearer description"' in article.body_html


def test_saving_a_body_that_names_a_missing_image_is_refused_with_a_clear_message():
    article = ArticleFactory.build(body="![](image:424242)")
    with pytest.raises(ValidationError) as info:
        article.full_clean(exclude=["tags"])
    assert "image:424242, which the image library does not have" in str(info.value)


def test_removing_a_figure_from_the_body_removes_it_from_used_in():
    image = library_image()
    article = ArticleFactory(body=f"![](image:{image.pk})")
    article.body = "No picture now."
    article.save()
    assert not image.used_in().exists()


def test_the_article_page_carries_figures_in_json_ld_with_absolute_urls(client, settings):
    hero, figure = library_image(alt="Hero"), library_image(alt="Figure")
    article = ArticleFactory(hero=hero, body=f"Intro.\n\n![](image:{figure.pk})")
    response = client.get(article.get_absolute_url())
    html = response.content.decode()
    assert 'class="figure figure--inline"' in html
    data = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1))
    assert data["image"] == [settings.SITE_URL + hero.largest_url, settings.SITE_URL + figure.largest_url]


def test_image_sitemap_lists_the_hero_and_every_figure(client, settings):
    hero, figure = library_image(), library_image()
    ArticleFactory(hero=hero, body=f"![](image:{figure.pk})")
    xml = client.get("/sitemap-articles.xml").content.decode()
    assert settings.SITE_URL + hero.largest_url in xml
    assert settings.SITE_URL + figure.largest_url in xml


def test_feeds_carry_figures_as_plain_images_with_absolute_addresses(client, settings):
    figure = library_image(alt="In the feed")
    ArticleFactory(body=f"Intro.\n\n![](image:{figure.pk})")
    xml = client.get("/feed/").content.decode()
    content = re.search(r"<content:encoded>(.*?)</content:encoded>", xml, re.S).group(1)
    assert "&lt;picture" not in content and "srcset" not in content and "&lt;source" not in content
    assert f'src="{settings.SITE_URL}{figure.fallback_url}"' in content.replace("&quot;", '"')
    assert 'alt="In the feed"' in content.replace("&quot;", '"')


def test_article_page_query_budget_with_twenty_figures(client, django_assert_max_num_queries, no_page_cache):
    pictures = [library_image(alt=f"Picture {n}", upload=jpeg_upload(size=(480, 270))) for n in range(20)]
    body = "Intro.\n\n" + "\n\n".join(f"![](image:{p.pk})" for p in pictures[:10])
    body += "\n\nA gallery:\n\n" + "\n".join(f"![](image:{p.pk})" for p in pictures[10:])
    article = ArticleFactory(hero=pictures[0], body=body)
    with django_assert_max_num_queries(6):
        response = client.get(article.get_absolute_url())
    assert response.content.decode().count('<figure class="figure') == 20


def test_the_admin_preview_shows_library_figures(editor_client):
    image = library_image(alt="Preview me")
    response = editor_client.post(
        reverse("admin:articles_article_markdown_preview"), {"body": f"![](image:{image.pk})"}
    )
    assert response.status_code == 200
    assert 'alt="Preview me"' in response.json()["html"]
    url = reverse("admin:articles_article_markdown_preview")
    missing = editor_client.post(url, {"body": "![](image:987654)"})
    assert missing.status_code == 400
    assert "image:987654" in missing.json()["error"]


def test_focus_classes_snap_to_quarters():
    assert figures.focus_class(0.5, 0.5) == "focus-50-50"
    assert figures.focus_class(0.1, 0.9) == "focus-0-100"
    assert figures.focus_class(0.3, 0.62) == "focus-25-50"
    assert figures.focus_class(-3, 7) == "focus-0-100"


def test_every_focus_class_is_in_the_stylesheet(settings):
    css = (settings.BASE_DIR / "static/css/site.css").read_text()
    for x in (0, 25, 50, 75, 100):
        for y in (0, 25, 50, 75, 100):
            assert f".focus-{x}-{y} {{ object-position: {x}% {y}%; }}" in css


def test_teasers_crop_around_the_focal_point(client):
    image = library_image()
    image.focal_x, image.focal_y = 0.0, 1.0
    image.save()
    ArticleFactory(hero=image)
    assert 'class="focus-0-100"' in client.get("/").content.decode()


def test_articles_without_figures_render_as_before():
    assert Article.objects.count() == 0
    assert rendering.render_markdown("Plain *text*.") == "<p>Plain <em>text</em>.</p>"


# import_markdown: pictures beside the story file go into the library.


def story_file(tmp_path, body, credit="image_credit: Ada Brooks\n", picture="pics/board.jpg"):
    folder = tmp_path / "story"
    (folder / "pics").mkdir(parents=True, exist_ok=True)
    (folder / picture).write_bytes(jpeg_upload().read())
    path = folder / "board.md"
    front = f"---\ntitle: Board\nslug: board\nstatus: draft\n{credit}---\n"
    path.write_text(f"{front}\n{body}\n", encoding="utf-8")
    return path


def test_import_markdown_puts_pictures_beside_the_story_into_the_library_once(tmp_path):
    from articles.importing import import_file

    path = story_file(tmp_path, 'Intro.\n\n![The board](pics/board.jpg "Top side"){.wide}\n\nEnd.')
    article, outcome = import_file(path)
    assert outcome == "created"
    image = article.figures.get()
    assert (image.alt, image.caption, image.credit, image.original_filename) == (
        "The board",
        "Top side",
        "Ada Brooks",
        "board.jpg",
    )
    assert f'![The board](image:{image.pk} "Top side"){{.wide}}' in article.body
    assert 'class="figure figure--wide"' in article.body_html
    again, outcome = import_file(path)
    assert outcome == "unchanged"
    assert again.figures.get() == image
    assert Image.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "credit", "line", "message"),
    [
        ("Intro.\n\n![](pics/board.jpg)", "image_credit: A\n", 9, "the image pics/board.jpg needs alt text"),
        ("![The board](pics/board.jpg)", "", 6, "add 'image_credit'"),
        ("Intro.\n\n![Gone](pics/gone.jpg)", "image_credit: A\n", 9, "does not exist"),
        ("![Up](../../etc/passwd)", "image_credit: A\n", 7, "is outside the story's folder"),
    ],
)
def test_import_markdown_names_the_line_of_a_picture_it_cannot_take(tmp_path, body, credit, line, message):
    from articles.importing import ImportFailure, import_file

    path = story_file(tmp_path, body, credit=credit)
    with pytest.raises(ImportFailure) as info:
        import_file(path)
    assert info.value.line == line
    assert message in str(info.value)
    assert not Image.objects.exists()
    assert not Article.objects.exists()


def test_load_demo_brings_the_teardown_with_its_gallery_and_figures():
    from django.core.management import call_command

    call_command("load_demo", stdout=io.StringIO())
    teardown = Article.objects.get(slug="quantix-q3-accelerator-teardown")
    assert teardown.body_html.count('<div class="gallery') == 1
    assert teardown.body_html.count('<li data-of="6"><figure class="figure figure--gallery">') == 6
    assert teardown.body_html.count('<figure class="figure figure--') == 6 + 3
    assert teardown.body_html.count('<div class="code">') == 2
    assert teardown.hero.alt.startswith("The Quantix Q3 board seen from above")
    assert teardown.hero not in teardown.figures.all()
    images_before = Image.objects.count()
    call_command("load_demo", stdout=io.StringIO())
    assert Image.objects.count() == images_before
