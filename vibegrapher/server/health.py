"""`GET /health`: is the database reachable, is the channel layer reachable."""

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse

import vibegrapher

logger = logging.getLogger(__name__)

CHANNEL_LAYER_TIMEOUT_SECONDS = 2.0


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.exception("health: database unreachable")
        return False
    finally:
        connection.close()


async def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    channel = None
    try:
        async with asyncio.timeout(CHANNEL_LAYER_TIMEOUT_SECONDS):
            channel = await layer.new_channel()
            await layer.send(channel, {"type": "health.ping"})
            await layer.receive(channel)
        return True
    except Exception:
        logger.exception("health: channel layer unreachable")
        return False
    finally:
        if channel is not None:
            await _forget(layer, channel)


async def _forget(layer: BaseChannelLayer, channel: str) -> None:
    """Let the layer drop the probe's channel, as it does a closed socket's.

    Channels has no call to delete a channel: layers clean up when a receive on it is
    cancelled, which is how a consumer's end reaches them. The pub/sub layer otherwise
    keeps the channel subscribed in Redis, one more per probe, for the process's life.
    """
    receiving = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)  # let the receive begin waiting
    receiving.cancel()
    # The layer's clean-up may talk to Redis: a Redis that stopped answering must not
    # hold up the answer. Unfinished, it goes on in the background.
    await asyncio.wait([receiving], timeout=CHANNEL_LAYER_TIMEOUT_SECONDS)
    receiving.add_done_callback(_retrieve)


def _retrieve(task: "asyncio.Future[object]") -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a failure here says nothing of health


async def health(request: HttpRequest) -> JsonResponse:
    database = await sync_to_async(_database_ok, thread_sensitive=False)()
    channel_layer = await _channel_layer_ok()
    healthy = database and channel_layer
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "database": "ok" if database else "unreachable",
            "channel_layer": "ok" if channel_layer else "unreachable",
            "version": vibegrapher.__version__,
        },
        status=200 if healthy else 503,
    )
