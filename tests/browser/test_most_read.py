"""Most read in Chromium: a story page's own script (under the site's real CSP) sends one beacon per view,
and it is counted; a headless browser announcing itself is a bot, answered the same and not counted."""

from articles import readership
from tests.browser.conftest import BROWSER_DB, assert_clean
from tests.factories import ArticleFactory

pytestmark = BROWSER_DB

DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
)


def test_a_story_view_sends_one_beacon_that_counts(browser, live_server):
    story = ArticleFactory(title="Chip makers race to 2 nm")
    context = browser.new_context(user_agent=DESKTOP_CHROME)
    page = context.new_page()
    beacons, problems = [], []
    page.on("request", lambda request: request.url.endswith("/beacon/") and beacons.append(request))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    try:
        with page.expect_response(lambda response: response.url.endswith("/beacon/")) as answer:
            page.goto(live_server.url + story.get_absolute_url())
        assert answer.value.status == 204
        page.wait_for_timeout(300)  # time for a second beacon, were the script to send one
        assert len(beacons) == 1 and beacons[0].method == "POST"
        assert readership.article_id_of(beacons[0].post_data) == story.pk
        assert problems == []  # no CSP violation, no script error
        assert readership.most_read() == [(story.pk, 1)]
        # Read again the same day: one view still. The page sets no cookie and stores nothing.
        with page.expect_response(lambda response: response.url.endswith("/beacon/")):
            page.reload()
        assert readership.most_read() == [(story.pk, 1)]
        assert context.cookies() == []
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    finally:
        context.close()


def test_headless_chromium_is_a_bot_and_not_counted(reader):
    story = ArticleFactory(title="Chip makers race to 2 nm")
    with reader.expect_response(lambda response: response.url.endswith("/beacon/")) as answer:
        reader.goto(reader.site + story.get_absolute_url())
    assert answer.value.status == 204
    assert readership.most_read() == []
    assert_clean(reader)
