"""Throughput and memory of send_notifications: N immediate subscribers, one new story, real SMTP.

Builds a throwaway test database (SQLite in memory by default; DATABASE_URL is respected, e.g. a
PostgreSQL server), adds N confirmed subscribers following one tag and one new story under it, and
runs the sending loop in-process against a local aiosmtpd server that only counts what it accepts;
then runs it once more, when nothing is left to send (the cost of a routine cron run).
The SMTP server runs in a child process (or, with --sink-thread, in a thread of this one, where its
work and memory are counted too).

    .venv/bin/python bench/notifications.py [--subscribers 10000]
"""

import argparse
import datetime
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Sink, setup_django  # noqa: E402

setup_django(defaults={"DJANGO_SETTINGS_MODULE": "tests.settings"})

from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from articles.following import sending  # noqa: E402
from articles.models import Article, Delivery, Follow, Subscriber, Tag  # noqa: E402


def max_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def populate(count):
    tag = Tag.objects.create(name="Semiconductors", slug="semiconductors")
    since = timezone.now() - datetime.timedelta(days=1)
    Subscriber.objects.bulk_create(
        (Subscriber(email=f"reader{n:06}@example.com", confirmed_at=since) for n in range(count)),
        batch_size=2000,
    )
    Follow.objects.bulk_create(
        (
            Follow(subscriber_id=pk, tag=tag)
            for pk in Subscriber.objects.values_list("pk", flat=True).iterator()
        ),
        batch_size=2000,
    )
    Follow.objects.update(created_at=since)
    article = Article.objects.create(
        title="Foundry output doubles",
        slug="foundry-output-doubles",
        standfirst="A short summary of the story.",
        body="First paragraph.\n\n## A heading\n\nSecond paragraph.",
        status=Article.Status.PUBLISHED,
    )
    article.tags.set([tag])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument(
        "--sink-thread",
        action="store_true",
        help="Run the SMTP sink in this process (shares the GIL and RSS).",
    )
    args = parser.parse_args()

    sink = Sink(in_thread=args.sink_thread)  # forked before any database connection is opened
    setup_test_environment()
    connection.settings_dict["TEST"]["NAME"] = f"test_{connection.settings_dict['NAME']}_bench"
    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = None  # in memory
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        populate(args.subscribers)
        rss_before = max_rss_mib()
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=sink.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
        ):
            start = time.perf_counter()
            summary = sending.send_due_notifications()
            elapsed = time.perf_counter() - start
            start = time.perf_counter()
            again = sending.send_due_notifications()  # everyone is served: a run that finds nothing to send
            idle = time.perf_counter() - start
        rss_after = max_rss_mib()
        deliveries = Delivery.objects.count()
    finally:
        sink.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    assert summary.ok and summary.emails == sink.count == deliveries == args.subscribers, (
        summary,
        sink.count,
    )
    assert again.ok and again.emails == 0, again
    where = "a thread of this process" if args.sink_thread else "a child process"
    print(
        f"send_notifications: {args.subscribers} immediate subscribers, one story, {connection.vendor},"
        f" SMTP sink in {where}"
    )
    print(
        f"{'emails':>8} {'seconds':>8} {'emails/s':>9} {'peak RSS MiB before':>20} {'after':>6} {'growth':>7}"
        f" {'idle run s':>11}"
    )
    print(
        f"{sink.count:8d} {elapsed:8.2f} {sink.count / elapsed:9.0f} {rss_before:20.1f} {rss_after:6.1f}"
        f" {rss_after - rss_before:7.1f} {idle:11.2f}"
    )


if __name__ == "__main__":
    main()
