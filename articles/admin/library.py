"""The image library in the admin: upload one or many, describe, crop around a focal point, see where
each picture is used, and pick one into a story's body."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from articles.admin.publishing import can_publish
from articles.forms import CheckedImageField, ImageAdminForm
from articles.models import Article, Image

PICKER_RESULTS = 24


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    form = ImageAdminForm
    change_form_template = "admin/articles/image/change_form.html"
    change_list_template = "admin/articles/image/change_list.html"
    list_display = ["thumbnail", "alt", "credit", "original_filename", "dimensions", "uploaded_at"]
    list_display_links = ["thumbnail", "alt"]
    search_fields = ["alt", "caption", "credit", "original_filename"]
    list_per_page = 50
    readonly_fields = [
        "focal_point_picker",
        "markdown_line",
        "used_in",
        "original_filename",
        "dimensions",
        "uploaded_by",
    ]
    fieldsets = [
        (None, {"fields": ["file", "alt", "caption", "credit"]}),
        ("Focal point", {"fields": ["focal_point_picker", ("focal_x", "focal_y")]}),
        ("Where it is used", {"fields": ["markdown_line", "used_in"]}),
        ("File", {"classes": ["collapse"], "fields": ["original_filename", "dimensions", "uploaded_by"]}),
    ]

    class Media:
        css = {"all": ["css/admin-library.css"]}
        js = ["js/admin-library.js"]

    def get_urls(self):
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="articles_image_upload"),
            path("picker/", self.admin_site.admin_view(self.picker_view), name="articles_image_picker"),
            *super().get_urls(),
        ]

    def get_search_results(self, request, queryset, search_term):
        # Every word anywhere (alt, caption, credit or file name), as the picker searches.
        return queryset.search(search_term), False

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        # What a published story shows is the editors' to change, as the story itself is.
        return obj is None or can_publish(request.user) or not published_users(obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.uploaded_by = request.user
        super().save_model(request, obj, form, change)

    # Deleting: a published story's picture stays.

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for image in objs:
            for article in published_users(image):
                protected.append(
                    format_html(
                        '“{}” is used by the published story <a href="{}">{}</a>',
                        image,
                        reverse("admin:articles_article_change", args=[article.pk]),
                        article,
                    )
                )
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        if published_users(obj):
            raise PermissionDenied("A published story uses this image.")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        if any(published_users(image) for image in queryset):
            raise PermissionDenied("A published story uses one of these images.")
        super().delete_queryset(request, queryset)

    # Columns and read-only fields

    @admin.display(description="Image")
    def thumbnail(self, image):
        if not image.thumbnail_url:
            return "—"
        return format_html(
            '<img class="library-thumbnail" src="{}" alt="" width="96" height="{}" loading="lazy">',
            image.thumbnail_url,
            round(96 * image.height / image.width) if image.width else 54,
        )

    @admin.display(description="Size")
    def dimensions(self, image):
        return f"{image.width} × {image.height} px" if image.width else "—"

    @admin.display(description="In a story's body")
    def markdown_line(self, image):
        if not image.pk:
            return "Save the image first."
        return format_html(
            '<input type="text" readonly class="vLargeTextField" value="{}" aria-label="Markdown line">'
            "<div class=\"help\">Paste this line into a story's body, on its own line (the article form's "
            "“Insert image” does it for you).</div>",
            figure_markdown(image),
        )

    @admin.display(description="Used in")
    def used_in(self, image):
        if not image.pk:
            return "Not used yet."
        stories = list(image.used_in().only("pk", "title", "status", "published_at"))
        if not stories:
            return "Not used in any story yet."
        return format_html(
            '<ul class="used-in">{}</ul>',
            format_html_join(
                "",
                '<li><a href="{}">{}</a> ({})</li>',
                (
                    (reverse("admin:articles_article_change", args=[a.pk]), a.title, a.get_status_display())
                    for a in stories
                ),
            ),
        )

    @admin.display(description="Click the picture where its subject is")
    def focal_point_picker(self, image):
        if not image.thumbnail_url:
            return "Save the image first; then click where its subject is, so crops keep it in view."
        # The picture is a button for the keyboard too (admin-library.js); without the script the
        # two numbers below do the same.
        return format_html(
            '<div class="focal-point" data-focal-x="{}" data-focal-y="{}">'
            '<img src="{}" alt="{}" width="{}" height="{}"><span class="focal-point__marker" hidden></span>'
            "</div>",
            image.focal_x,
            image.focal_y,
            image.thumbnail_url,
            image.alt,
            min(image.width, 480),
            round(min(image.width, 480) * image.height / image.width) if image.width else 270,
        )

    # Many at once

    def upload_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImageBatchForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            created = form.save(request.user)
            self.message_user(
                request,
                f"Added {len(created)} image{'s' if len(created) != 1 else ''} to the library.",
                messages.SUCCESS,
            )
            return redirect("admin:articles_image_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Add images",
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/articles/image/upload.html", context)

    # The picker beside a story's body (static/js/admin-image-picker.js)

    def picker_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        found = Image.objects.search(request.GET.get("q", "")[:200])[:PICKER_RESULTS]
        return JsonResponse(
            {
                "results": [
                    {
                        "id": image.pk,
                        "alt": image.alt,
                        "caption": image.caption,
                        "credit": image.credit,
                        "thumbnail": image.thumbnail_url,
                        "width": image.width,
                        "height": image.height,
                        "markdown": figure_markdown(image),
                    }
                    for image in found
                ]
            }
        )


def figure_markdown(image):
    """The line the picker inserts: standard Markdown, readable, pointing at the library by number."""
    alt = " ".join(image.alt.replace("]", ")").replace("[", "(").split())
    return f"![{alt}](image:{image.pk})"


def published_users(image):
    return list(image.used_in().filter(status=Article.Status.PUBLISHED).only("pk", "title"))


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleCheckedImageField(CheckedImageField):
    """Several uploads, each checked and cleaned like a single one; errors name the file."""

    widget = MultipleImageInput

    def clean(self, data, initial=None):
        uploads = data if isinstance(data, (list, tuple)) else [data] if data else []
        if not uploads:
            raise ValidationError("Choose at least one image.", code="required")
        if len(uploads) > ImageBatchForm.MAX_FILES:
            raise ValidationError(f"At most {ImageBatchForm.MAX_FILES} images at once, please.")
        cleaned, errors = [], []
        for upload in uploads:
            try:
                cleaned.append((getattr(upload, "name", "") or "", super().clean(upload, initial)))
            except ValidationError as error:
                errors.extend(f"{getattr(upload, 'name', 'A file')}: {message}" for message in error.messages)
        if errors:
            raise ValidationError(errors)
        return cleaned


class ImageBatchForm(forms.Form):
    """Many pictures of one shoot: one credit, and each picture's alt text, one line per file."""

    MAX_FILES = 20

    files = MultipleCheckedImageField(label="Images", help_text="JPEG, PNG, WebP or GIF; up to 20 at once.")
    alts = forms.CharField(
        label="Alt text, one line per image",
        widget=forms.Textarea(attrs={"rows": 6, "class": "vLargeTextField"}),
        help_text="What each picture shows, in the order of the files. Every image needs one.",
    )
    credit = forms.CharField(max_length=200, help_text="Photographer or agency, for all of them.")
    caption = forms.CharField(max_length=300, required=False, help_text="Optional, for all of them.")

    def clean(self):
        cleaned = super().clean()
        files, alts = cleaned.get("files"), cleaned.get("alts")
        if files and alts is not None:
            lines = [line.strip() for line in alts.splitlines() if line.strip()]
            if len(lines) != len(files):
                self.add_error(
                    "alts",
                    f"{len(files)} image{'s' if len(files) != 1 else ''} and {len(lines)} line"
                    f"{'s' if len(lines) != 1 else ''} of alt text: write one line for each image.",
                )
            elif any(len(line) > Image._meta.get_field("alt").max_length for line in lines):
                self.add_error("alts", "An alt text is at most 250 characters.")
            else:
                cleaned["alt_lines"] = lines
        return cleaned

    @transaction.atomic
    def save(self, user):
        return [
            _saved(
                Image(
                    file=content,
                    alt=alt,
                    credit=self.cleaned_data["credit"],
                    caption=self.cleaned_data["caption"],
                    original_filename=name[:255],
                    uploaded_by=user,
                )
            )
            for (name, content), alt in zip(
                self.cleaned_data["files"], self.cleaned_data["alt_lines"], strict=True
            )
        ]


def _saved(image):
    image.full_clean(exclude=["file"])
    image.save()
    return image
