"""The page cache as a publish leaves it, for query budgets measured on a miss."""

from articles.context_processors import navigation_sections
from conclave import pagecache


def as_after_a_publish():
    """Nothing kept (pages, the schedule, related boxes, the busiest tags) but the header's sections,
    which no publish changes."""
    pagecache.purge([pagecache.SITE_KEY])
    navigation_sections()
