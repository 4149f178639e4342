from django.core.management.base import BaseCommand, CommandError

from articles.following.sending import send_due_notifications


class Command(BaseCommand):
    help = (
        "Email followers what is due: immediate alerts for new stories on the tags they follow, and "
        "daily or weekly digests. Safe to run often (e.g. every 5 minutes from cron): nothing is sent twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Print who would get what; send and record nothing."
        )

    def handle(self, *args, dry_run=False, **options):
        summary = send_due_notifications(stdout=self.stdout, dry_run=dry_run)
        verb = "Would send" if dry_run else "Sent"
        stories = "story" if summary.stories == 1 else "stories"
        skipped = f"; {summary.skipped} skipped (busy or changed meanwhile)" if summary.skipped else ""
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
                f"{verb} {summary.emails} email(s) with {summary.stories} {stories} to {summary.subscribers} "
                f"due subscriber(s); {summary.empty_digests} digest(s) had nothing new{skipped}.{expired}"
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
