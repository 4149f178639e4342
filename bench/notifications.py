"""Throughput and memory of send_notifications: N immediate followers of one tag, one new story.

Builds a throwaway test database (SQLite in memory by default; DATABASE_URL is respected, e.g. a
PostgreSQL server), adds N confirmed subscribers following one tag and one new story under it, and
sends it, then runs once more when nothing is left (the cost of a routine cron run). Every recipient
must get exactly one message: the receiving end counts repeats.

* --via smtp (default): a local aiosmtpd server that only counts, in a child process (or, with
  --sink-thread, a thread of this one). With --runs R (PostgreSQL only), R processes run side by side,
  each `--part k/R`, as cron would start them.
* --via mailgun: the local fake of Mailgun's API (tests/support/fake_esp.py, counting only), in a child
  process; the run sends batches of up to 1,000 recipients a call.

    .venv/bin/python bench/notifications.py [--subscribers 10000] [--via smtp|mailgun] [--runs 1]
"""

import argparse
import datetime
import multiprocessing
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Sink, setup_django  # noqa: E402

setup_django(defaults={"DJANGO_SETTINGS_MODULE": "tests.settings"})

from django.db import connection, connections  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from articles.following import sending  # noqa: E402
from articles.models import Article, Delivery, Follow, Subscriber, Tag  # noqa: E402

FORK = multiprocessing.get_context("fork")


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
            Follow(subscriber_id=pk, tag=tag, frequency="immediate")
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


class FakeMailgun:
    """The Mailgun fake in a child process of its own, so that its work is not counted in the run's."""

    def __init__(self):
        self.parent, child = FORK.Pipe()
        self.process = FORK.Process(target=self.serve, args=(child,), daemon=True)
        self.process.start()
        self.url, self.key, self.domain = self.parent.recv()

    @staticmethod
    def serve(pipe):
        from tests.support.fake_esp import FakeEmailService

        with FakeEmailService(record="count") as fake:
            pipe.send((fake.url("mailgun"), fake.mailgun_key, fake.mailgun_domain))
            pipe.recv()  # asked for the counts
            received = fake.received
            pipe.send(
                {
                    "calls": fake.calls,
                    "messages": sum(received.values()),
                    "recipients": len(received),
                    "repeats": sum(count - 1 for count in received.values() if count > 1),
                    "violations": fake.violations[:5],
                    "largest call": max(fake.recipients_per_call, default=0),
                }
            )

    def counts(self):
        self.parent.send("counts")
        counts = self.parent.recv()
        self.process.join(10)
        return counts

    def settings(self):
        return override_settings(
            EMAIL_BACKEND="anymail.backends.mailgun.EmailBackend",
            ANYMAIL={"MAILGUN_API_KEY": self.key, "MAILGUN_API_URL": self.url},
            DEFAULT_FROM_EMAIL=f"Conclave TechMedia <news@{self.domain}>",
        )


def smtp_settings(sink):
    return override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=sink.port,
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
    )


def one_part(sink_port, part, results):
    """A child process: one `--part k/R` run, as cron would start it."""
    connections.close_all()  # the parent's connection is not this process's to use

    class Port:
        port = sink_port

    with smtp_settings(Port):
        summary = sending.send_due_notifications(part=part)
    results.put((summary.emails, summary.ok, max_rss_mib()))
    connections.close_all()


def send_in_parts(sink, runs):
    results = FORK.Queue()
    connections.close_all()
    processes = [
        FORK.Process(target=one_part, args=(sink.port, (k, runs), results)) for k in range(1, runs + 1)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=3600) for _ in processes]
    for process in processes:
        process.join()
    return outcomes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--via", choices=["smtp", "mailgun"], default="smtp")
    parser.add_argument("--runs", type=int, default=1, help="SMTP: runs side by side (PostgreSQL only).")
    parser.add_argument(
        "--sink-thread",
        action="store_true",
        help="Run the SMTP sink in this process (shares the GIL and RSS).",
    )
    args = parser.parse_args()

    # Forked before any database connection is opened.
    receiver = FakeMailgun() if args.via == "mailgun" else Sink(in_thread=args.sink_thread)
    setup_test_environment()
    connection.settings_dict["TEST"]["NAME"] = f"test_{connection.settings_dict['NAME']}_bench"
    if connection.vendor == "sqlite":
        if args.runs > 1:
            parser.error("--runs needs a database several processes can share: set DATABASE_URL")
        connection.settings_dict["TEST"]["NAME"] = None  # in memory
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        populate(args.subscribers)
        rss_before = max_rss_mib()
        start = time.perf_counter()
        if args.runs > 1:
            outcomes = send_in_parts(receiver, args.runs)
            emails, ok = sum(o[0] for o in outcomes), all(o[1] for o in outcomes)
            rss_after = max(o[2] for o in outcomes)
        else:
            with receiver.settings() if args.via == "mailgun" else smtp_settings(receiver):
                summary = sending.send_due_notifications()
            emails, ok, rss_after = summary.emails, summary.ok, max_rss_mib()
        elapsed = time.perf_counter() - start
        with receiver.settings() if args.via == "mailgun" else smtp_settings(receiver):
            start = time.perf_counter()
            again = sending.send_due_notifications()  # everyone is served: a run that finds nothing to send
            idle = time.perf_counter() - start
        deliveries = Delivery.objects.count()
    finally:
        if args.via == "mailgun":
            counts = receiver.counts()
        else:
            counts = {"messages": receiver.count, "repeats": receiver.repeats, "calls": receiver.count}
            receiver.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    assert ok and emails == counts["messages"] == deliveries == args.subscribers, (emails, counts, deliveries)
    assert counts["repeats"] == 0 and not counts.get("violations"), counts
    assert again.ok and again.emails == 0, again
    how = (
        f"fake Mailgun API, batches of up to {counts['largest call']}"
        if args.via == "mailgun"
        else f"SMTP, {args.runs} run(s) side by side"
    )
    print(
        f"send_notifications: {args.subscribers} immediate followers of one tag, one story, "
        f"{connection.vendor}, {how}"
    )
    print(
        f"{'emails':>8} {'calls':>7} {'repeats':>8} {'seconds':>8} {'emails/s':>9}"
        f" {'peak RSS MiB before':>20} {'after':>6} {'idle run s':>11}"
    )
    print(
        f"{emails:8d} {counts['calls']:7d} {counts['repeats']:8d} {elapsed:8.2f} {emails / elapsed:9.0f}"
        f" {rss_before:20.1f} {rss_after:6.1f} {idle:11.2f}"
    )


if __name__ == "__main__":
    main()
