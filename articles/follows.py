"""Following tags by email: signed links, and the subscriber-facing pages.

Links carry a signed token naming the subscriber and a digest of their address, so a token stops
working if the address row is deleted or changed; confirmation links also expire. The token is the
only authorisation there is: no accounts, no sessions.

How the pages stay safe:

* The follow box on a tag page (which a shared page cache may serve to everyone) carries no CSRF
  token. The follow view checks the token itself: a POST without a valid one changes nothing and
  sends nothing, and gets an uncached page with a fresh token asking for one more click. Only that
  verified POST acts, and all it can do is send one rate-limited email.
* Its answer is the same "check your inbox" page whatever the address. A new or unconfirmed address
  is sent a confirmation link (double opt-in); a confirmed one is sent its settings link, where it
  can add the tag itself, so nobody can change someone else's subscription.
* Confirming takes a button press (a POST): mail scanners that fetch links confirm nothing.
* Unsubscribing is one POST that needs no cookie (RFC 8058 one-click), so that view alone is
  CSRF-exempt; the signed token in its address is the authorisation.
* No address is taken that mail headers cannot carry as it is: control and format characters (a line
  break in a quoted local part would split the To: header) and domains IDNA cannot encode are refused.
"""

import hashlib
import logging
import smtplib
import unicodedata
from email.errors import MessageError
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.crypto import salted_hmac
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from articles.models import Follow, Subscriber, Tag
from articles.tags import moved_permanently, resolve_tag_slug
from articles.templatetags.news import absolute
from conclave.middleware import client_ip

logger = logging.getLogger(__name__)

CONFIRM_MAX_AGE = 7 * 24 * 3600  # a week to click the confirmation link
TOKEN_PURPOSES = ("confirm", "manage", "unsubscribe")

# Unicode categories no address we mail may hold: control characters (Cc: line breaks, NUL, …), format
# characters (Cf: invisible ones such as U+200B, which IDNA drops, so one mailbox gets a second
# spelling), line and paragraph separators (Zl, Zp). RFC 5322 lets a quoted local part carry some of
# them; a mail header cannot.
UNMAILABLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}


def normalise_email(address):
    """Addresses are compared and stored lower-cased and trimmed."""
    return address.strip().lower()


def has_control_characters(value):
    return any(unicodedata.category(char) in UNMAILABLE_CATEGORIES for char in value)


def is_mailable(address):
    """Whether a message can be addressed to this address as it is: no control or format characters,
    and Python's email package, as Django's mail backends use it, writes it into a header (an
    internationalised domain must encode to IDNA, for one)."""
    if has_control_characters(address):
        return False
    try:
        EmailMessage(to=[address]).message()
    except (ValueError, MessageError):  # UnicodeError, from IDNA, is a ValueError
        return False
    return True


def _address_digest(subscriber):
    return hashlib.sha256(subscriber.email.encode()).hexdigest()[:16]


def make_token(subscriber, purpose):
    assert purpose in TOKEN_PURPOSES
    return signing.dumps(
        [subscriber.pk, _address_digest(subscriber)], salt=f"follow-{purpose}", compress=True
    )


def read_token(token, purpose):
    """The subscriber a token names, or None when it is tampered, expired, foreign or stale."""
    max_age = CONFIRM_MAX_AGE if purpose == "confirm" else None
    try:
        pk, digest = signing.loads(token, salt=f"follow-{purpose}", max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    subscriber = Subscriber.objects.filter(pk=pk).first()
    if subscriber is None or _address_digest(subscriber) != digest:
        return None
    return subscriber


def follow_url(subscriber, purpose):
    """The absolute URL (on SITE_URL) of a subscriber's confirm, manage or unsubscribe page."""
    return absolute(reverse(f"articles:follow-{purpose}", kwargs={"token": make_token(subscriber, purpose)}))


def _is_genuine(token, purpose):
    """Whether we signed this token for this purpose, even if the subscriber it named has left."""
    try:
        signing.loads(token, salt=f"follow-{purpose}")
    except (signing.BadSignature, ValueError, TypeError):
        return False
    return True


CONFIRM_DAYS = CONFIRM_MAX_AGE // (24 * 3600)

# Rate limits, as (events, seconds): emails to one address, and acting follow requests from one IP.
ADDRESS_LIMIT = (3, 3600)
IP_LIMIT = (10, 600)


def address_hash(value):
    """A short keyed hash, to follow one address (or IP) through the logs without writing it down."""
    return salted_hmac("follow-log", value).hexdigest()[:12]


def mask_email(address):
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def within_limit(kind, ident, limit):
    """Count one more event for ident; False once it is over the limit for the current window.

    The counter lives in the cache (add, then incr: atomic on Redis). If the cache is down, the
    request goes through and the failure is logged: better a few extra mails than a broken form.
    """
    events, window = limit
    key = f"follow-limit:{kind}:{address_hash(ident)}"
    try:
        cache.add(key, 0, window)
        return cache.incr(key) <= events
    except ValueError:  # the counter expired between add and incr: a new window starts with this event
        return True
    except Exception:
        logger.warning("Follow rate limit %r unavailable: letting the request through", kind, exc_info=True)
        return True


FREQUENCY_CHOICES = [
    (Subscriber.Frequency.IMMEDIATE, "Immediately"),
    (Subscriber.Frequency.DAILY, "Daily digest"),
    (Subscriber.Frequency.WEEKLY, "Weekly digest"),
]


def frequency_field(required):
    return forms.ChoiceField(
        label="How often?", choices=FREQUENCY_CHOICES, widget=forms.RadioSelect, required=required
    )


class FollowForm(forms.Form):
    email = forms.EmailField(
        label="Email address", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    frequency = frequency_field(required=False)

    def clean_email(self):
        email = normalise_email(self.cleaned_data["email"])
        if not is_mailable(email):
            raise ValidationError(
                "Enter a valid email address: mail cannot be sent to this one as it is written (it holds "
                "control or invisible characters, or a domain name mail cannot carry).",
                code="unmailable",
            )
        return email

    def clean_frequency(self):
        return self.cleaned_data["frequency"] or Subscriber.Frequency.IMMEDIATE


class ConfirmForm(forms.Form):
    frequency = frequency_field(required=True)


class ManageForm(forms.Form):
    frequency = frequency_field(required=True)
    unfollow = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    add = forms.ModelChoiceField(queryset=Tag.objects.all(), to_field_name="slug", required=False)

    def __init__(self, *args, subscriber, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unfollow"].queryset = Tag.objects.filter(follows__subscriber=subscriber).order_by("name")


class _CsrfCheck(CsrfViewMiddleware):
    """The middleware's own check, answering with the reason for refusal instead of a 403 page."""

    def _reject(self, request, reason):
        return reason


def csrf_refusal(request):
    """None when this POST carries a valid CSRF token (Origin, Referer and token), else the reason."""
    check = _CsrfCheck(lambda request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


def request_follow(tag, email, frequency):
    """Record a follow request and send the one email it may cause; the visitor sees none of this."""
    with transaction.atomic():
        subscriber, created = Subscriber.objects.get_or_create(email=email, defaults={"frequency": frequency})
        if not subscriber.is_confirmed:
            # Nothing reaches an unconfirmed address but its confirmation, so its follows can wait here;
            # the owner sees them, and picks the frequency, on the confirmation page.
            Follow.objects.get_or_create(subscriber=subscriber, tag=tag)
            if subscriber.frequency != frequency:
                subscriber.frequency = frequency
                subscriber.save(update_fields=["frequency"])
    if within_limit("address", email, ADDRESS_LIMIT):
        send_follow_mail(subscriber, tag)
    else:
        logger.info("Follow %s: mail to %s held back by the rate limit", tag.slug, address_hash(email))


def send_follow_mail(subscriber, tag):
    """An unconfirmed address gets its confirmation link; a confirmed one, its settings link with the
    tag ready to add: the change waits for the owner of the mailbox."""
    confirmed = subscriber.is_confirmed
    name = " ".join(tag.name.split())
    if confirmed:
        subject = f"Add {name} to your {settings.SITE_NAME} emails?"
        link = f"{follow_url(subscriber, 'manage')}?{urlencode({'add': tag.slug})}"
    else:
        subject = f"Confirm you want stories about {name}"
        link = follow_url(subscriber, "confirm")
    context = {
        "tag": tag,
        "link": link,
        "confirmed": confirmed,
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "valid_days": CONFIRM_DAYS,
    }
    message = EmailMultiAlternatives(
        subject, render_to_string("emails/confirm_follow.txt", context), to=[subscriber.email]
    )
    message.attach_alternative(render_to_string("emails/confirm_follow.html", context), "text/html")
    try:
        message.send()
    # The mail server's trouble, or the email package refusing the address after all. By its name only:
    # the exception's text may hold the address.
    except (smtplib.SMTPException, OSError, ValueError, MessageError) as exc:
        logger.warning(
            "Follow %s: mail to %s failed (%s)", tag.slug, address_hash(subscriber.email), type(exc).__name__
        )
        return
    if not confirmed:
        Subscriber.objects.filter(pk=subscriber.pk).update(confirmation_sent_at=timezone.now())
    logger.info("Follow %s: mail sent to %s", tag.slug, address_hash(subscriber.email))


def leave(subscriber):
    """Forget the subscriber entirely: the address, its follows and its delivery history."""
    Subscriber.objects.filter(pk=subscriber.pk).delete()
    logger.info("Subscriber %s left", address_hash(subscriber.email))


@method_decorator([csrf_exempt, never_cache], name="dispatch")
class FollowView(View):
    """POST /tags/<slug>/follow/. CSRF-exempt for the middleware only: the view checks the token.

    At the old address of a renamed or merged tag, GET answers 301 to the tag's follow address, and a
    POST follows the tag it became: the form may come from a tag page a cache served before the merge,
    and a 308 would count on every client re-posting the form to the new address.
    """

    def get(self, request, slug):
        tag, redirected = resolve_tag_slug(slug)
        if redirected:
            return moved_permanently(request, reverse("articles:follow", kwargs={"slug": tag.slug}))
        return redirect(tag.get_absolute_url() + "#follow")

    def post(self, request, slug):
        tag, _ = resolve_tag_slug(slug)
        data = request.POST.copy()
        data.setdefault("frequency", Subscriber.Frequency.IMMEDIATE)
        form = FollowForm(data)
        if csrf_refusal(request):
            # Straight from the cached, token-free follow box, or forged on another site: act on
            # nothing, and ask again on this uncached page, which carries a token of its own.
            return self.ask(request, tag, form, retry="csrfmiddlewaretoken" in request.POST)
        if not within_limit("ip", client_ip(request), IP_LIMIT):
            response = render(request, "articles/follow_limited.html", {"tag": tag}, status=429)
            response["Retry-After"] = str(IP_LIMIT[1])
            return response
        if not form.is_valid():
            return self.ask(request, tag, form)
        request_follow(tag, **form.cleaned_data)
        return render(request, "articles/follow_sent.html", {"tag": tag, "valid_days": CONFIRM_DAYS})

    def ask(self, request, tag, form, retry=False):
        status = 400 if form.errors else 200
        response = render(
            request, "articles/follow_form.html", {"tag": tag, "form": form, "retry": retry}, status=status
        )
        patch_vary_headers(response, ["Cookie"])
        return response


@method_decorator(never_cache, name="dispatch")
class TokenView(View):
    """A page reached through a signed link; a bad link gets a friendly 400 page."""

    purpose = ""
    template_name = ""
    allow_departed = False  # also accept a genuine token whose subscriber has since left

    def dispatch(self, request, token):
        self.subscriber = read_token(token, self.purpose)
        if self.subscriber is None and not (self.allow_departed and _is_genuine(token, self.purpose)):
            return render(request, "articles/follow_invalid.html", status=400)
        return super().dispatch(request, token)

    def page(self, status=200, **context):
        context["subscriber"] = self.subscriber
        if self.subscriber:
            context["masked_email"] = mask_email(self.subscriber.email)
        return render(self.request, self.template_name, context, status=status)


class ConfirmView(TokenView):
    """GET shows what is being confirmed and a button; only the button's POST confirms."""

    purpose, template_name = "confirm", "articles/follow_confirm.html"

    def get(self, request, token):
        return self.page(form=ConfirmForm(initial={"frequency": self.subscriber.frequency}))

    def post(self, request, token):
        if self.subscriber.is_confirmed:  # confirming twice changes nothing
            return self.page(done=True)
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            return self.page(form=form, status=400)
        Subscriber.objects.filter(pk=self.subscriber.pk, confirmed_at__isnull=True).update(
            confirmed_at=timezone.now(), frequency=form.cleaned_data["frequency"]
        )
        self.subscriber.refresh_from_db()
        logger.info("Subscriber %s confirmed", address_hash(self.subscriber.email))
        return self.page(done=True)

    def page(self, status=200, **context):
        tags = Tag.objects.filter(follows__subscriber=self.subscriber).order_by("name")
        return super().page(status, tags=tags, manage_url=follow_url(self.subscriber, "manage"), **context)


class ManageView(TokenView):
    """The subscriber's settings: frequency, tags to stop following, a tag to add, or leave."""

    purpose, template_name = "manage", "articles/follow_manage.html"

    def get(self, request, token):
        # Links mailed before a rename or merge name the tag's old address: offer the tag it became.
        wanted = request.GET.get("add", "")
        add = Tag.objects.filter(Q(slug=wanted) | Q(redirects__old_slug=wanted)).exclude(
            follows__subscriber=self.subscriber
        )
        form = ManageForm(subscriber=self.subscriber, initial={"frequency": self.subscriber.frequency})
        return self.page(form=form, add_tag=add.first(), saved="saved" in request.GET)

    def post(self, request, token):
        if "leave" in request.POST:
            leave(self.subscriber)
            return render(request, "articles/follow_unsubscribe.html", {"done": True})
        form = ManageForm(request.POST, subscriber=self.subscriber)
        if not form.is_valid():
            return self.page(form=form, add_tag=form.cleaned_data.get("add"), status=400)
        data = form.cleaned_data
        with transaction.atomic():
            Subscriber.objects.filter(pk=self.subscriber.pk).update(frequency=data["frequency"])
            self.subscriber.follows.filter(tag__in=data["unfollow"]).delete()
            if data["add"]:
                Follow.objects.get_or_create(subscriber=self.subscriber, tag=data["add"])
        return redirect(f"{request.path}?saved=1")


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(TokenView):
    """GET: a one-click button. POST (also straight from a mail client, RFC 8058): leave, no cookie needed."""

    purpose, template_name, allow_departed = "unsubscribe", "articles/follow_unsubscribe.html", True

    def get(self, request, token):
        return self.page(done=self.subscriber is None)

    def post(self, request, token):
        if self.subscriber is not None:
            leave(self.subscriber)
        self.subscriber = None
        return self.page(done=True)
