"""What agents_app does when the server stops (registered with vibegrapher's shutdown).

Every run of this process ends as `interrupted` (each browser gets its
`run_finished`), the last events get time to reach this process's WebSockets, and
the SDK memory's database pools are closed.
"""

import asyncio
import logging

from django.conf import settings

logger = logging.getLogger(__name__)

# Time for the events of the ended runs to reach this process's WebSockets.
FLUSH_SECONDS = 0.5


async def end_runs() -> None:
    # Imported here: the apps' ready() registers this, before the SDK need be loaded.
    from agents_app.memory import dispose_engines
    from agents_app.runs import interrupt_runs

    count = await interrupt_runs(settings.RUN_SHUTDOWN_SECONDS)
    if count:
        logger.info("shutdown: %d runs ended as interrupted", count)
        # The consumers on this process forward the last events, and the sockets
        # write them out, before daphne cancels every connection.
        await asyncio.sleep(FLUSH_SECONDS)
    await dispose_engines()
