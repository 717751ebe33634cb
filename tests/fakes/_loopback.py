"""LoopbackFake: the aiohttp lifecycle the fake servers share (tests/fakes/*.py).

A fake subclasses it, calls `super().__init__(host, port)`, and says what it serves with
`routes(router)`; `app()` builds the aiohttp application (override it for middlewares or
options such as client_max_size). `start()` serves on `host`:`port` (port 0: a free one, read
back into `port`) and sets `url` (plus `url_path`, e.g. "/v1"); `stop()` ends it; `async with`
does both.
"""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LoopbackFake:
    url_path = ""  # appended to http://host:port in `url`

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.url = ""
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        """The application `start()` serves, before `routes()` adds to its router."""
        return web.Application()

    def routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    async def start(self) -> Self:
        app = self.app()
        self.routes(app.router)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        self.url = f"http://{self.host}:{self.port}{self.url_path}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
