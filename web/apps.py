from django.apps import AppConfig


class WebConfig(AppConfig):
    """The HTML pages: views, page URLs, templates, template tags and static files.

    The top layer: it may use every app, and no app imports it, so the domain apps
    and their API stay whole without the pages."""

    name = "web"
    verbose_name = "Pages"
