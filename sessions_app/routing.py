from django.urls import URLPattern, URLResolver, path

from sessions_app.consumers import ProjectConsumer

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/projects/<uuid:project_id>/", ProjectConsumer.as_asgi()),
]
