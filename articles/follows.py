"""Following tags by email: follow requests, emailed links, and the subscriber-facing pages.

Links are the only authorisation there is: no accounts, no sessions. Nothing in a link says whom it is
for (no id, nothing derived from the address):

* A follow request is a row of its own (address, tag, frequency: FollowRequest), and its confirmation
  link carries a random token of which only a SHA-256 digest is stored. The link confirms that request
  and nothing else: until the address confirms, what anyone asks for it later changes nothing an
  earlier request asked. Confirming makes the address a subscriber following that tag, at the
  frequency chosen on the page; its other pending requests stay pending, each with its own link. The
  link works for CONFIRM_DAYS days, and `send_notifications` deletes requests older than that.
* Settings and unsubscribe links go out in every email, so they must be made again for each: they carry
  the subscriber's random link key (Subscriber.link_key), signed for their purpose with SECRET_KEY.
  They work until the subscriber leaves (the key goes with the row). An unsubscribe link of someone who
  has left still answers "you are unsubscribed": its signature shows we made it.
* Links mailed before these (the subscriber's id and an address digest, signed) still open the settings
  and unsubscribe pages, as they sit in inboxes. Old confirmation links confirm nothing any more: they
  confirmed whatever anyone had asked for the address meanwhile.

How the pages stay safe:

* The follow box on a tag page (which a shared page cache may serve to everyone) carries no CSRF
  token. The follow view checks the token itself: a POST without a valid one changes nothing and
  sends nothing, and gets an uncached page with a fresh token asking for one more click. Only that
  verified POST acts, and all it can do is record a request and send one rate-limited email.
* Its answer is the same "check your inbox" page whatever the address, in the same time: the view does
  the same work for every address (the address's rate-limit counter, one INSERT of the request, one
  SELECT of a subscriber), and the mail, or none, goes out after the answer (AnswerThen). A new or
  pending address is sent its request's confirmation link (double opt-in); a subscribed one its
  settings link, where it can add the tag itself, so nobody can change someone else's subscription.
* Confirming takes a button press (a POST): mail scanners that fetch links confirm nothing.
* Unsubscribing is one POST that needs no cookie (RFC 8058 one-click), so that view alone is
  CSRF-exempt; the signed token in its address is the authorisation.
* No address is taken that mail headers cannot carry as it is: control and format characters (a line
  break in a quoted local part would split the To: header) and domains IDNA cannot encode are refused.
"""

import contextvars
import datetime
import hashlib
import logging
import secrets
import smtplib
import threading
import unicodedata
from email.errors import MessageError
from functools import partial
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse
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

from articles.links import absolute
from articles.models import Follow, FollowRequest, Subscriber, Tag
from articles.tags import moved_permanently, resolve_tag_slug
from conclave.middleware import client_ip

logger = logging.getLogger(__name__)

CONFIRM_MAX_AGE = 7 * 24 * 3600  # a week to click the confirmation link
LINK_PURPOSES = ("manage", "unsubscribe")  # the subscriber's own links; confirmation links name a request

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


# Confirmation links: a random token per request, stored as a digest.


def token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def new_request(tag, email, frequency):
    """Record a request to follow `tag`; return it with the token of its confirmation link (not stored)."""
    token = secrets.token_urlsafe(32)
    follow_request = FollowRequest.objects.create(
        email=email, tag=tag, frequency=frequency, token_digest=token_digest(token)
    )
    return follow_request, token


def find_request(token):
    """The follow request a confirmation token names, or None when it is unknown or over a week old."""
    since = timezone.now() - datetime.timedelta(seconds=CONFIRM_MAX_AGE)
    return (
        FollowRequest.objects.select_related("tag")
        .filter(token_digest=token_digest(token), created_at__gte=since)
        .first()
    )


def confirm_url(token):
    """The absolute URL (on SITE_URL) of a follow request's confirmation page."""
    return absolute(reverse("articles:follow-confirm", kwargs={"token": token}))


# Settings and unsubscribe links: the subscriber's link key, signed for the purpose.


def _signer(purpose):
    assert purpose in LINK_PURPOSES
    # Not the salts of the old links ("follow-<purpose>"), whose signatures would verify here too.
    return signing.Signer(salt=f"follow-link-{purpose}")


def make_token(subscriber, purpose):
    return _signer(purpose).sign(subscriber.link_key)


def _signed_key(token, purpose):
    try:
        return _signer(purpose).unsign(token)
    except signing.BadSignature:
        return None


def _legacy_subscriber(token, purpose):
    """The subscriber a link mailed before link keys names (their id and an address digest, signed)."""
    try:
        pk, digest = signing.loads(token, salt=f"follow-{purpose}")
    except (signing.BadSignature, ValueError, TypeError):
        return None
    subscriber = Subscriber.objects.filter(pk=pk).first()
    if subscriber is None or hashlib.sha256(subscriber.email.encode()).hexdigest()[:16] != digest:
        return None
    return subscriber


def read_token(token, purpose):
    """The subscriber a settings or unsubscribe token names, or None when it is tampered, foreign or
    stale (they left)."""
    key = _signed_key(token, purpose)
    if key is None:
        return _legacy_subscriber(token, purpose)
    return Subscriber.objects.filter(link_key=key).first()


def _is_genuine(token, purpose):
    """Whether we made this token for this purpose, even if the subscriber it named has left."""
    if _signed_key(token, purpose) is not None:
        return True
    try:
        signing.loads(token, salt=f"follow-{purpose}")
    except (signing.BadSignature, ValueError, TypeError):
        return False
    return True


def follow_url(subscriber, purpose):
    """The absolute URL (on SITE_URL) of a subscriber's settings or unsubscribe page."""
    return absolute(reverse(f"articles:follow-{purpose}", kwargs={"token": make_token(subscriber, purpose)}))


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
    add = forms.ModelChoiceField(queryset=Tag.objects.none(), to_field_name="slug", required=False)

    def __init__(self, *args, subscriber, **kwargs):
        super().__init__(*args, **kwargs)
        # Only a topic readers can see: a tag typed into a draft is nobody's to follow yet (and public()
        # reads the clock, so it is asked here, per form, not once at import).
        self.fields["add"].queryset = Tag.objects.public()
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
    """Record a follow request; return the work left for after the answer (the mail it may cause).

    The same work for every address, whatever it is (new, pending, subscribed, over its limit): the
    address's rate-limit counter, one INSERT of the request and one SELECT of a subscriber, so the
    answer takes no longer for one than for another. Even a request whose mail will not mention it
    (the address is subscribed, or over its limit) is recorded: it confirms nothing without its link,
    and goes with the others after a week.
    """
    allowed = within_limit("address", email, ADDRESS_LIMIT)
    _, token = new_request(tag, email, frequency)
    subscriber = Subscriber.objects.filter(email=email, confirmed_at__isnull=False).first()
    if not allowed:
        return partial(
            logger.info, "Follow %s: mail to %s held back by the rate limit", tag.slug, address_hash(email)
        )
    return partial(send_follow_mail, tag, email, token, subscriber)


def send_follow_mail(tag, email, token, subscriber):
    """A new or pending address gets its request's confirmation link; a subscribed one, its settings link
    with the tag ready to add: the change waits for the owner of the mailbox."""
    confirmed = subscriber is not None
    name = " ".join(tag.name.split())
    if confirmed:
        subject = f"Add {name} to your {settings.SITE_NAME} emails?"
        link = f"{follow_url(subscriber, 'manage')}?{urlencode({'add': tag.slug})}"
    else:
        subject = f"Confirm you want stories about {name}"
        link = confirm_url(token)
    context = {
        "tag": tag,
        "link": link,
        "confirmed": confirmed,
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "valid_days": CONFIRM_DAYS,
    }
    message = EmailMultiAlternatives(
        subject, render_to_string("emails/confirm_follow.txt", context), to=[email]
    )
    message.attach_alternative(render_to_string("emails/confirm_follow.html", context), "text/html")
    try:
        message.send()
    # The mail server's trouble, or the email package refusing the address after all. By its name only:
    # the exception's text may hold the address.
    except (smtplib.SMTPException, OSError, ValueError, MessageError) as exc:
        logger.warning("Follow %s: mail to %s failed (%s)", tag.slug, address_hash(email), type(exc).__name__)
        return
    logger.info("Follow %s: mail sent to %s", tag.slug, address_hash(email))


# Mails in flight at once from threads of their own, per process; beyond that, each waits its turn in
# the server's thread (still after its answer), so a flood of requests cannot pile up threads.
MAIL_THREADS = threading.BoundedSemaphore(8)


class AnswerThen(HttpResponse):
    """A response that does `then()` once it has been sent, so that work shows in no answer's timing.

    WSGI servers call a response's close() after writing its body, which carries its Content-Length:
    the visitor has the whole answer by then. Under a threaded server (gunicorn's gthread worker,
    runserver), `then` runs in a thread of its own, so the server's thread is free at once: a client
    that keeps its connection open learns nothing from when its next answer comes either. Elsewhere
    (Django's test client, a single-threaded server), or when MAIL_THREADS are all busy, it runs here,
    in close(). Either way it must not use the database: the request's connection is being tidied away.
    """

    def __init__(self, content, then, threaded, **kwargs):
        super().__init__(content, **kwargs)
        self.then, self.threaded, self.sender = then, threaded, None
        self.context = contextvars.copy_context()  # the request's, for its id in the log lines

    def close(self):
        try:
            super().close()  # Django's own: request_finished, which tidies database connections
        finally:
            then, self.then = self.then, None  # once, however often close() is called
            if then is not None and self.threaded and MAIL_THREADS.acquire(blocking=False):
                self.sender = threading.Thread(target=self.context.run, args=(self._run, then, True))
                self.sender.start()
            elif then is not None:
                self.context.run(self._run, then, False)

    @staticmethod
    def _run(then, in_thread):
        try:
            then()
        except Exception:  # too late for an error page: the visitor has their answer
            logger.exception("Follow: the work after the answer failed")
        finally:
            if in_thread:
                MAIL_THREADS.release()


def forget(subscribers):
    """Delete these subscribers with everything about them: follows and delivery history (cascaded),
    and the follow requests of their addresses, whose older links would otherwise subscribe them again."""
    with transaction.atomic():
        FollowRequest.objects.filter(email__in=subscribers.values("email")).delete()
        subscribers.delete()


def leave(subscriber):
    """The subscriber leaves: forgotten entirely."""
    forget(Subscriber.objects.filter(pk=subscriber.pk))
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
        then = request_follow(tag, **form.cleaned_data)
        page = render_to_string(
            "articles/follow_sent.html", {"tag": tag, "valid_days": CONFIRM_DAYS}, request
        )
        return AnswerThen(page, then=then, threaded=request.META.get("wsgi.multithread", False))

    def ask(self, request, tag, form, retry=False):
        status = 400 if form.errors else 200
        response = render(
            request, "articles/follow_form.html", {"tag": tag, "form": form, "retry": retry}, status=status
        )
        patch_vary_headers(response, ["Cookie"])
        return response


@method_decorator(never_cache, name="dispatch")
class ConfirmView(View):
    """A follow request's confirmation page. GET shows what it asked and a button; only the button's
    POST confirms, and only that request: the address becomes a subscriber following its tag."""

    def dispatch(self, request, token):
        self.follow_request = find_request(token)
        if self.follow_request is None:
            return render(request, "articles/follow_invalid.html", status=400)
        return super().dispatch(request, token)

    def get(self, request, token):
        if self.follow_request.confirmed_at:
            return self.done()
        return self.page(form=ConfirmForm(initial={"frequency": self.follow_request.frequency}))

    def post(self, request, token):
        if self.follow_request.confirmed_at:  # confirming twice changes nothing
            return self.done()
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            return self.page(form=form, status=400)
        confirm(self.follow_request, form.cleaned_data["frequency"])
        logger.info("Subscriber %s confirmed a follow", address_hash(self.follow_request.email))
        return self.done(thanks=True)

    def page(self, status=200, **context):
        context.update(
            masked_email=mask_email(self.follow_request.email), tags=[self.follow_request.tag], done=False
        )
        return render(self.request, "articles/follow_confirm.html", context, status=status)

    def done(self, thanks=False):
        subscriber = Subscriber.objects.filter(
            email=self.follow_request.email, confirmed_at__isnull=False
        ).first()
        if subscriber is None:  # confirmed, then left (or removed by an editor)
            return render(self.request, "articles/follow_invalid.html", status=400)
        context = {
            "done": True,
            "thanks": thanks,
            "masked_email": mask_email(subscriber.email),
            "tags": Tag.objects.filter(follows__subscriber=subscriber).order_by("name"),
            "manage_url": follow_url(subscriber, "manage"),
        }
        return render(self.request, "articles/follow_confirm.html", context)


def confirm(follow_request, frequency):
    """Confirm one follow request: its address becomes (or stays) a subscriber, at `frequency`, following
    its tag. Nothing else anyone asked for the address is taken with it."""
    now = timezone.now()
    with transaction.atomic():
        claimed = FollowRequest.objects.filter(pk=follow_request.pk, confirmed_at__isnull=True).update(
            confirmed_at=now
        )
        if not claimed:  # confirmed meanwhile, by another click
            return
        subscriber, _ = Subscriber.objects.select_for_update().get_or_create(
            email=follow_request.email, defaults={"confirmed_at": now, "frequency": frequency}
        )
        if not subscriber.is_confirmed:
            # A row from before follow requests: what it followed was never confirmed by anyone.
            subscriber.follows.all().delete()
            subscriber.confirmed_at = now
        subscriber.frequency = frequency
        subscriber.save(update_fields=["confirmed_at", "frequency"])
        Follow.objects.get_or_create(subscriber=subscriber, tag=follow_request.tag)


@method_decorator(never_cache, name="dispatch")
class SubscriberLinkView(View):
    """A page reached through a subscriber's settings or unsubscribe link; a bad link gets a friendly 400."""

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


class ManageView(SubscriberLinkView):
    """The subscriber's settings: frequency, tags to stop following, a tag to add, or leave."""

    purpose, template_name = "manage", "articles/follow_manage.html"

    def get(self, request, token):
        # Links mailed before a rename or merge name the tag's old address: offer the tag it became.
        wanted = request.GET.get("add", "")
        add = (
            Tag.objects.public()
            .filter(Q(slug=wanted) | Q(redirects__old_slug=wanted))
            .exclude(follows__subscriber=self.subscriber)
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
class UnsubscribeView(SubscriberLinkView):
    """GET: a one-click button. POST (also straight from a mail client, RFC 8058): leave, no cookie needed."""

    purpose, template_name, allow_departed = "unsubscribe", "articles/follow_unsubscribe.html", True

    def get(self, request, token):
        return self.page(done=self.subscriber is None)

    def post(self, request, token):
        if self.subscriber is not None:
            leave(self.subscriber)
        self.subscriber = None
        return self.page(done=True)
