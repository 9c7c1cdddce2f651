"""An app served from its own thread and event loop, for synchronous Hypothesis tests that talk to it over
HTTP (Hypothesis runs a test function many times and shrinks what fails; it does not drive coroutines, so
the app's loop runs beside it and each call crosses over with ``run_coroutine_threadsafe``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Threaded(Generic[S]):
    """``site`` (whatever the context manager yielded: it must have an aiohttp ``client``) and a way to run
    coroutines on its loop from the test's thread."""

    def __init__(self, site: S, loop: asyncio.AbstractEventLoop) -> None:
        self.site = site
        self.loop = loop

    def call(self, work: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def request(self, method: str, path: str, **options: Any) -> Answer:
        """One HTTP request through the site's test client (its cookie jar included); the whole answer."""

        async def send() -> Answer:
            client = self.site.client  # type: ignore[attr-defined]
            async with client.request(method, path, allow_redirects=False, **options) as resp:
                body = await resp.read()
                return Answer(resp.status, resp.content_type, dict(resp.headers), body)

        return self.call(send())


@contextmanager
def threaded(start: Callable[[], AbstractAsyncContextManager[S]]) -> Iterator[Threaded[S]]:
    """Enter ``start()`` on a new event loop in a background thread; leave it when the block ends."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[S] = loop.create_future()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    async def serve() -> None:
        try:
            async with start() as site:
                ready.set_result(site)
                await stop.wait()
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)
            if not ready.done():
                ready.set_exception(exc)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="threaded-app", daemon=True)
    thread.start()
    site = asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(60)
    try:
        yield Threaded(site, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        if failure:
            raise failure[0]


async def _wait(ready: asyncio.Future[S]) -> S:
    return await ready
