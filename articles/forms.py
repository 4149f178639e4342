from django import forms
from django.contrib.admin.widgets import AdminFileWidget

from articles import images
from articles.models import Article, Author, Image, check_tag_names, publishing_problems


class CheckedImageField(forms.ImageField):
    """An upload checked and cleaned by our image module instead of Django's open()+verify().

    Django's check lets truncated files and fuzz crashers through; ours decodes every pixel, refuses
    anything but JPEG/PNG/WebP/GIF, and hands the form a re-encoded, metadata-free copy to store.
    """

    default_error_messages = {"invalid_image": "Upload a JPEG, PNG, WebP or GIF image."}

    def __init__(self, *args, square=None, **kwargs):
        self.square = square
        super().__init__(*args, **kwargs)

    def to_python(self, data):
        upload = forms.FileField.to_python(self, data)
        if upload is None:
            return None
        return images.prepare_upload(upload, square=self.square).content

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs["accept"] = "image/jpeg,image/png,image/webp,image/gif"
        return attrs


class ImageAdminForm(forms.ModelForm):
    file = CheckedImageField(widget=AdminFileWidget, help_text=Image._meta.get_field("file").help_text)

    class Meta:
        model = Image
        fields = ["file", "alt", "caption", "credit", "focal_x", "focal_y"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload is not None and upload is not self.initial.get("file"):
            # What the editor called it: the stored name is a slug of it (images._safe_name).
            self.instance.original_filename = getattr(self.files.get("file"), "name", "")[:255]
        return upload


class ArticleAdminForm(forms.ModelForm):
    class Meta:
        model = Article
        fields = [
            "title",
            "slug",
            "standfirst",
            "body",
            "hero",
            "section",
            "authors",
            "tags",
            "status",
            "published_at",
            "is_featured",
            "seo_title",
            "seo_description",
        ]

    def clean_tags(self):
        names = self.cleaned_data["tags"]
        check_tag_names(names)
        return names

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("status", self.instance.status) != Article.Status.PUBLISHED:
            return cleaned  # drafts may be saved incomplete
        missing = publishing_problems(
            standfirst=cleaned.get("standfirst"),
            section=cleaned.get("section"),
            tags=cleaned.get("tags"),
            authors=cleaned.get("authors"),
            hero=cleaned.get("hero"),
        )
        if missing:
            self.add_error(None, "Not published yet: complete the items marked below, or save as a draft.")
            for name, message in missing.items():
                if name not in self.errors:  # e.g. the model's own "alt text required" already says it
                    self.add_error(name, message)
        return cleaned


class AuthorAdminForm(forms.ModelForm):
    avatar = CheckedImageField(
        required=False,
        square=320,
        widget=AdminFileWidget,
        help_text=Author._meta.get_field("avatar").help_text,
    )

    class Meta:
        model = Author
        fields = ["name", "slug", "bio", "avatar", "user"]
