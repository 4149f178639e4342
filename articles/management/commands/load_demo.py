import datetime
import json
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from articles import images
from articles.embeds.models import seed_embeds
from articles.importing import ImportFailure, import_story, parse_story, story_published_at
from articles.management.hero_drawing import draw_hero
from articles.models import Article, Image, LiveEntry

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


class Command(BaseCommand):
    help = (
        "Load the demo stories (the OpenAI-Foxconn seed plus fictional items) with drawn hero images, "
        "dated up to a day before today."
    )

    def handle(self, *args, **options):
        paths = sorted(path for path in DEMO_DIR.glob("*.md") if path.name != "README.md")
        stories = {}
        for path in paths:
            try:
                stories[path] = parse_story(path.read_text(encoding="utf-8"), folder=path.parent)
                stories[path].meta["published_at"] = story_published_at(stories[path])
            except ImportFailure as exc:
                raise CommandError(f"{path.name}:{exc.line}: {exc}") from None
        shift = days_to_today(stories.values(), timezone.now())
        # Before the stories: their embeds are then found stored, and nothing is fetched.
        seeded = seed_embeds(
            json.loads((DEMO_DIR / "embeds" / "embeds.json").read_text()), DEMO_DIR / "embeds"
        )
        if seeded:
            self.stdout.write(f"{seeded} demo embed(s) stored.")
        drawn = 0
        for path, story in stories.items():
            story.meta["published_at"] += shift
            try:
                article, outcome = import_story(story)
            except ImportFailure as exc:
                raise CommandError(f"{path.name}:{exc.line}: {exc}") from None
            if not article.hero_id:
                jpeg = draw_hero(article.slug)
                article.hero = Image.objects.create(
                    file=images.prepare_upload(File(jpeg, name=f"{article.slug}.jpg")).content,
                    alt=story.meta.get("hero_alt") or article.title,
                    caption=story.meta.get("hero_caption") or "",
                    credit=story.meta.get("hero_credit") or "Conclave TechMedia illustration",
                    original_filename=f"{article.slug}.jpg",
                )
                article.save()
                drawn += 1
            self.stdout.write(f"{path.name}: {outcome}")
            updates = DEMO_DIR / "live" / f"{article.slug}.json"
            if updates.exists() and not article.live_entries.exists():
                posted = load_live_coverage(article, json.loads(updates.read_text(encoding="utf-8")))
                self.stdout.write(f"{path.name}: live coverage with {posted} updates")
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {len(paths)} stories, {drawn} new hero image(s)."))


def load_live_coverage(article, coverage):
    """A story's live updates, timed from its publication, and the coverage ended after the last."""
    start = article.published_at
    for update in coverage["updates"]:
        LiveEntry(
            article=article,
            body=update["body"],
            is_key_point=update.get("key", False),
            author=article.authors.first(),
            posted_at=start + datetime.timedelta(minutes=update["minutes"]),
        ).save()
    article.coverage = Article.Coverage.ENDED
    article.coverage_started_at = start
    article.coverage_ended_at = start + datetime.timedelta(minutes=coverage["ended_after_minutes"])
    article.revised_at = max(article.live_entries.values_list("posted_at", flat=True))
    article.save()
    return len(coverage["updates"])


def days_to_today(stories, now):
    """Whole days that bring the newest story to within a day of ``now`` (at least an hour before it),
    the others keeping their distance from it: a new site's front page, news sitemap and "latest" look
    alive on any day. Whole days, so loading the demo again the same day changes nothing.
    """
    newest = max(story.meta["published_at"] for story in stories)
    return datetime.timedelta(days=max(0, (now - newest - datetime.timedelta(hours=1)).days))
