from django import forms
from django.contrib.admin.widgets import AdminFileWidget

from articles import images
from articles.models import Article, Author, check_tag_names, publishing_problems


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


class ArticleAdminForm(forms.ModelForm):
    hero_image = CheckedImageField(
        required=False,
        widget=AdminFileWidget,
        help_text=Article._meta.get_field("hero_image").help_text,
    )

    class Meta:
        model = Article
        fields = [
            "title",
            "slug",
            "standfirst",
            "body",
            "hero_image",
            "hero_alt",
            "hero_caption",
            "hero_credit",
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
            hero_image=cleaned.get("hero_image"),
            hero_alt=cleaned.get("hero_alt"),
            hero_credit=cleaned.get("hero_credit"),
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
