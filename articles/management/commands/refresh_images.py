from django.core.management.base import BaseCommand

from articles import images
from articles.models import Image


class Command(BaseCommand):
    help = (
        "Write the renditions library images lack: AVIF for images made before this machine's Pillow "
        "encoded it (heroes moved into the library by migration 0013, say). Files already written stay as "
        "they are, so no address handed out changes. Safe to run again."
    )

    def handle(self, *args, **options):
        updated = 0
        for image in Image.objects.exclude(file="").iterator(chunk_size=100):
            if images.missing_formats(image.renditions) or not image.renditions.get("sizes"):
                if image.renditions.get("sizes"):
                    image.add_missing_formats()
                else:
                    image.refresh_renditions()
                updated += 1
                self.stdout.write(f"image {image.pk}: {image.file.name}")
        self.stdout.write(self.style.SUCCESS(f"{updated} image(s) given the renditions they lacked."))
