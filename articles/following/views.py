"""The subscriber-facing pages: the follow form's answer, confirmation, settings, unsubscribe."""

import logging

from django.db import transaction
from django.db.models import Q
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from articles.following import limits
from articles.following.addresses import address_hash, mask_email
from articles.following.deferred import AnswerThen
from articles.following.forms import ConfirmForm, FollowForm, ManageForm
from articles.following.subscriptions import confirm, leave, request_follow
from articles.following.tokens import CONFIRM_DAYS, find_request, follow_url, is_genuine, read_token
from articles.models import Follow, Subscriber, Tag
from articles.tag_governance import moved_permanently, resolve_tag_slug
from conclave.middleware import client_ip

logger = logging.getLogger(__name__)


class _CsrfCheck(CsrfViewMiddleware):
    """The middleware's own check, answering with the reason for refusal instead of a 403 page."""

    def _reject(self, request, reason):
        return reason


def csrf_refusal(request):
    """None when this POST carries a valid CSRF token (Origin, Referer and token), else the reason."""
    check = _CsrfCheck(lambda request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


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
        data.setdefault("frequency", Follow.Frequency.IMMEDIATE)
        form = FollowForm(data)
        if csrf_refusal(request):
            # Straight from the cached, token-free follow box, or forged on another site: act on
            # nothing, and ask again on this uncached page, which carries a token of its own.
            return self.ask(request, tag, form, retry="csrfmiddlewaretoken" in request.POST)
        if not limits.ip_within_limit(client_ip(request)):
            response = render(request, "articles/follow_limited.html", {"tag": tag}, status=429)
            response["Retry-After"] = str(limits.IP_LIMIT[1])
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


@method_decorator(never_cache, name="dispatch")
class SubscriberLinkView(View):
    """A page reached through a subscriber's settings or unsubscribe link; a bad link gets a friendly 400."""

    purpose = ""
    template_name = ""
    allow_departed = False  # also accept a genuine token whose subscriber has since left

    def dispatch(self, request, token):
        self.subscriber = read_token(token, self.purpose)
        if self.subscriber is None and not (self.allow_departed and is_genuine(token, self.purpose)):
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
