"""One HTTP request straight through an ASGI handler, for tests of the request path."""

from asgiref.testing import ApplicationCommunicator

from vibegrapher.server.request_threads import PooledThreadASGIHandler


async def asgi_request(
    handler: PooledThreadASGIHandler, path: str, method: str = "GET", wait: float = 30
) -> tuple[int, dict[bytes, bytes], bytes]:
    """The status, headers and whole body of `method path` answered by `handler`."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(handler, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(wait)
    body = b""
    while True:
        message = await communicator.receive_output(wait)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(wait)
    return int(start["status"]), dict(start["headers"]), body
