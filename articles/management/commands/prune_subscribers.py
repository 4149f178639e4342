from django.core.management.base import BaseCommand

from articles.following import retention


class Command(BaseCommand):
    help = (
        "Delete what is kept about subscribers past its time: expired follow requests, addresses that never "
        f"confirmed, deliveries older than {retention.KEEP_DELIVERIES_DAYS} days, stale soft-bounce counts. "
        "Run daily from cron."
    )

    def handle(self, *args, **options):
        pruned = retention.prune()
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {pruned.requests} expired follow request(s), {pruned.unconfirmed} unconfirmed "
                f"address(es), {pruned.deliveries} story, {pruned.note_deliveries} note, "
                f"{pruned.key_point_deliveries} key point and {pruned.coverage_digest_deliveries} live "
                "coverage digest deliveries, "
                f"{pruned.soft_bounces} stale soft-bounce count(s)."
            )
        )
