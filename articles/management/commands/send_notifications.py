import argparse

from django.core.management.base import BaseCommand, CommandError

from articles.following.sending import send_due_notifications


def part(value):
    """'K/N' with 1 <= K <= N."""
    try:
        number, parts = (int(side) for side in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not K/N, e.g. 2/4") from None
    if not 1 <= number <= parts:
        raise argparse.ArgumentTypeError(f"{value!r}: K must be between 1 and N")
    return number, parts


class Command(BaseCommand):
    help = (
        "Email followers what is due: alerts for new stories on the tags, authors and sections they follow "
        "immediately, daily or weekly digests of the others, and corrections to stories they were sent or "
        "follow; key points of live stories followed immediately, and a digest when their coverage ends. "
        "Safe to run often (e.g. every 5 minutes from cron), and several at once: nothing is sent twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Print who would get what; send and record nothing."
        )

        parser.add_argument(
            "--part",
            type=part,
            default=(1, 1),
            metavar="K/N",
            help="Only the K-th of N parts of the subscribers: N runs side by side (--part 1/N … N/N) "
            "share a big send instead of meeting on each row.",
        )

    def handle(self, *args, dry_run=False, part=(1, 1), **options):
        summary = send_due_notifications(stdout=self.stdout, dry_run=dry_run, part=part)
        verb = "Would send" if dry_run else "Sent"
        stories = "story" if summary.stories == 1 else "stories"
        notes = f" and {summary.notes} correction(s)" if summary.notes else ""
        if summary.key_points:
            notes += f" and {summary.key_points} key point(s)"
        if summary.coverage_digests:
            notes += f" and {summary.coverage_digests} live coverage digest(s)"
        calls = f" in {summary.calls} call(s)" if summary.calls != summary.emails else ""
        skipped = f"; {summary.skipped} skipped (busy or changed meanwhile)" if summary.skipped else ""
        if summary.refused:
            skipped += f"; {summary.refused} address(es) refused by the email service (suppressed)"
        if summary.unmailable:
            skipped += (
                f"; {summary.unmailable} address(es) skipped that no mail can go to as written "
                "(listed above by subscriber id: delete them in the admin)"
            )
        expired = (
            f" {summary.expired_requests} expired follow request(s) deleted."
            if summary.expired_requests
            else ""
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {summary.emails} email(s){calls} with {summary.stories} {stories}{notes} to "
                f"{summary.subscribers} due subscriber(s); {summary.empty_digests} digest(s) had nothing "
                f"new{skipped}.{expired}"
            )
        )
        if not summary.ok:
            for email, error in summary.failures:
                self.stderr.write(f"  {email}: {error}")
            stopped = (
                " The run stopped early: the mail server looks unavailable." if summary.stopped_early else ""
            )
            raise CommandError(
                f"{summary.failed} email(s) could not be sent; nothing was recorded for them, so the next "
                f"run retries them (and anyone not reached yet).{stopped}"
            )
