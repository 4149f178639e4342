from django.urls import path, re_path

from articles import beacon, feeds, search, views
from articles.following import views as following

app_name = "articles"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("news/<slug:slug>/", views.ArticleDetailView.as_view(), name="detail"),
    path("news/<slug:slug>/live/", views.live_updates, name="live-updates"),
    path("news/<slug:slug>/follow/", following.FollowView.as_view(kind="article"), name="story-follow"),
    path("sections/<slug:slug>/", views.SectionView.as_view(), name="section"),
    path("sections/<slug:slug>/feed/", feeds.SectionFeed(), name="section-feed"),
    path("sections/<slug:slug>/feed/atom/", feeds.SectionAtomFeed(), name="section-feed-atom"),
    path("sections/<slug:slug>/follow/", following.FollowView.as_view(kind="section"), name="section-follow"),
    path("authors/<slug:slug>/", views.AuthorView.as_view(), name="author"),
    path("authors/<slug:slug>/feed/", feeds.AuthorFeed(), name="author-feed"),
    path("authors/<slug:slug>/feed/atom/", feeds.AuthorAtomFeed(), name="author-feed-atom"),
    path("authors/<slug:slug>/follow/", following.FollowView.as_view(kind="author"), name="author-follow"),
    path("tags/", views.TagIndexView.as_view(), name="tags"),
    path("tags/<str:slug>/", views.TagView.as_view(), name="tag"),
    path("tags/<str:slug>/feed/", feeds.TagFeed(), name="tag-feed"),
    path("tags/<str:slug>/feed/atom/", feeds.TagAtomFeed(), name="tag-feed-atom"),
    path("tags/<str:slug>/follow/", following.FollowView.as_view(), name="follow"),
    path("follow/confirm/<str:token>/", following.ConfirmView.as_view(), name="follow-confirm"),
    path("follow/manage/<str:token>/", following.ManageView.as_view(), name="follow-manage"),
    path("follow/unsubscribe/<str:token>/", following.UnsubscribeView.as_view(), name="follow-unsubscribe"),
    # The email service's bounce and complaint webhook (served only when configured).
    path("anymail/<str:service>/tracking/", following.tracking_webhook, name="email-tracking-webhook"),
    re_path(
        r"^archive/(?P<year>[0-9]{4})/(?P<month>[0-9]{2})/$",
        views.ArchiveMonthView.as_view(),
        name="archive-month",
    ),
    path("search/", search.SearchView.as_view(), name="search"),
    path("feed/", feeds.LatestFeed(), name="feed"),
    path("feed/atom/", feeds.LatestAtomFeed(), name="feed-atom"),
    path("healthz", views.healthz, name="healthz"),
    # Story views for "Most read" (articles/readership.py): POST only, never cached.
    path("beacon/", beacon.beacon, name="beacon"),
]
