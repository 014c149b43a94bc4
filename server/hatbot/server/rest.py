"""The game's original REST protocol, served by aiohttp next to the gRPC server.

``GET /`` is 200 ``{"status": "ok", ...}`` once the model is loaded, 503 before.
``GET /explain?word=W&n_words=N`` and ``GET /guess?words=A&words=B&n_words=N`` (optionally
``&criteria=soft|hard``, else the server's ``--criteria``) answer a JSON list of strings.
``n_words`` is required, as the original protocol always sends it and gRPC has no default
either. A missing, repeated or invalid parameter is 400 and every error body is
``{"error": MESSAGE}`` whose message starts with the parameter's name, as over gRPC; beyond
the worker's in-flight bound a request is 429 with ``Retry-After``. A request aiohttp cannot
parse (a malformed request line or header, a line over 8,190 bytes, more than 128 headers) is
aiohttp's 400 with a plain-text reason, logged at DEBUG only: it is the client's error. So is
an HTTP version other than 1.0 and 1.1, which aiohttp's parser lets through.

aiohttp runs its own event loop in a background thread; the answers run in that loop's
default executor so requests stay concurrent.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import HttpVersion10, HttpVersion11, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiMapping

from hatbot.server import validation
from hatbot.server.admission import OVERLOADED, InFlight
from hatbot.server.observe import CallObserver
from hatbot.server.service import Answerer
from hatbot.v1 import hatbot_pb2

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOADING = "the model is still loading"
# At most 18 digits: int() of any longer string would still be out of range.
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_ROUTES = ("/", "/explain", "/guess")
_CRITERIA = {"soft": hatbot_pb2.CRITERIA_SOFT, "hard": hatbot_pb2.CRITERIA_HARD}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _single(query: MultiMapping[str], name: str) -> str:
    values = query.getall(name, [])
    if not values:
        raise validation.InvalidArgumentError(name, "is required")
    if len(values) > 1:
        raise validation.InvalidArgumentError(name, f"must be given once, got {len(values)}")
    return values[0]


def _n_words(query: MultiMapping[str]) -> int:
    text = _single(query, "n_words")
    if not _INTEGER.fullmatch(text):
        shown = repr(text if len(text) <= 20 else text[:20] + "...")
        raise validation.InvalidArgumentError(
            "n_words", f"must be an integer between 1 and {validation.MAX_N_WORDS}, got {shown}"
        )
    return int(text)


def _criteria(query: MultiMapping[str]) -> int:
    """The optional ``criteria`` (soft or hard) as the contract's enum value."""
    if "criteria" not in query:
        return hatbot_pb2.CRITERIA_UNSPECIFIED
    text = _single(query, "criteria")
    if text not in _CRITERIA:
        raise validation.InvalidArgumentError(
            "criteria", f"must be soft or hard, got {text[:20]!r}"
        )
    return _CRITERIA[text]


@web.middleware
async def _http_1(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what aiohttp's parser takes for HTTP/0.9 (no version) or HTTP/2 on a text line."""
    if request.version in (HttpVersion10, HttpVersion11):
        return await handler(request)
    major, minor = request.version
    response = _error(400, f"version: must be HTTP/1.0 or HTTP/1.1, got HTTP/{major}.{minor}")
    response.force_close()
    return response


class _ProtocolLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log, except that a request aiohttp cannot parse (a client's error,
    answered 400) is one DEBUG line instead of an ERROR with a traceback."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self.debug(f"{msg}: %r", *args, exc_info.message)
        else:
            super().exception(msg, *args, exc_info=exc_info, **kwargs)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a JSON error body."""
    try:
        return await handler(request)
    except validation.InvalidArgumentError as error:
        return _error(400, str(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        allow = error.headers.get("Allow")
        message = f"{error.reason.lower()}: {request.method} {request.path}"
        return _error(error.status, message, {"Allow": allow} if allow else None)
    except Exception:
        log.exception("error answering %s %s", request.method, request.path_qs)
        return _error(500, "internal server error")


class HttpFrontEnd:
    """Serves :class:`Answerer` answers over HTTP from a background thread.

    ``get_answerer`` returns the current answerer, or None while the model is loading (then
    every request is 503). Answers count against ``in_flight`` with the gRPC calls; beyond
    its bound a request is 429 at once. ``reuse_port`` lets worker processes share the port;
    ``observer`` records every request (method ``GET /PATH``, code the HTTP status);
    ``ssl_context`` serves HTTPS (see :mod:`hatbot.server.credentials`).
    """

    def __init__(
        self,
        get_answerer: Callable[[], Answerer | None],
        host: str,
        port: int,
        in_flight: InFlight | None = None,
        reuse_port: bool = False,
        observer: CallObserver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._get_answerer = get_answerer
        self._host = host
        self._port = port
        self._in_flight = in_flight
        self._reuse_port = reuse_port
        self._observer = observer
        self._ssl_context = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def start(self) -> int:
        """Bind and start serving; returns the bound port, logged as ``http listening on``."""
        if self._loop is not None:
            raise RuntimeError("already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._run, args=(loop,), name="hatbot-http", daemon=True)
        thread.start()
        try:
            port = asyncio.run_coroutine_threadsafe(self._start(), loop).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            raise
        self._loop, self._thread = loop, thread
        context = self._ssl_context
        with_tls = "" if context is None else " with TLS"
        if context is not None and context.verify_mode == ssl.CERT_REQUIRED:
            with_tls = " with mutual TLS"
        log.info("http listening on %s:%d%s", self._host, port, with_tls)
        return port

    def stop(self, grace: float) -> None:
        """Stop accepting connections, give in-flight requests ``grace`` seconds, then close.

        A no-op when not running.
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        try:
            # aiohttp rounds long timeouts up to whole seconds and may wait twice (finish,
            # then cancel), so allow more than grace before giving up on a clean stop.
            asyncio.run_coroutine_threadsafe(self._stop(grace), loop).result(2 * grace + 5)
        except TimeoutError:
            log.warning("http front end did not stop within %.1fs", 2 * grace + 5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _start(self) -> int:
        app = web.Application(middlewares=[self._observed, _http_1, _json_errors])
        app.router.add_get("/", self._status)
        app.router.add_get("/explain", self._explain)
        app.router.add_get("/guess", self._guess)
        # No access log: the gRPC side does not log every call either.
        protocol_log = _ProtocolLog(logging.getLogger("aiohttp.server"))
        runner = web.AppRunner(app, access_log=None, logger=protocol_log)
        await runner.setup()
        site = web.TCPSite(
            runner,
            self._host,
            self._port,
            reuse_port=self._reuse_port or None,
            ssl_context=self._ssl_context,
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return site.port

    async def _stop(self, grace: float) -> None:
        # AppRunner.cleanup() does these steps too, but with the drain timeout fixed when the
        # runner was made; doing them here lets the caller choose the grace period at stop.
        runner = self._runner
        if runner is None:
            return
        # A connection accepted in the very tick the socket closes makes asyncio log "Error on
        # transport creation" and never answers it (CPython gh-109564); others are unaffected.
        for site in runner.sites:
            await site.stop()  # closes the listening socket
        server = runner.server
        if server is not None:
            log.info("http stopped listening, finishing %d connection(s)", len(server.connections))
            await asyncio.sleep(0)  # let just-accepted connections start their requests
            server.pre_shutdown()  # idle keep-alive connections close, busy ones after replying
            await server.shutdown(grace)  # then cancels what is still running
        await runner.cleanup()

    @web.middleware
    async def _observed(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        observer = self._observer
        if observer is None:
            return await handler(request)
        method = f"GET {request.path}" if request.path in _ROUTES else "other"
        started = time.perf_counter()
        observer.started(method)
        response = None
        try:
            response = await handler(request)
            return response
        finally:
            status = response.status if response is not None else 500
            answerer = self._get_answerer()
            version = answerer.model.version if answerer is not None and status == 200 else ""
            observer.finished(
                method, str(status), time.perf_counter() - started, request.remote or "", version
            )

    async def _answer(self, route: str, call: Callable[[], list[str]]) -> web.Response:
        place = None if self._in_flight is None else self._in_flight.admit()
        if self._in_flight is not None and place is None:
            if self._observer is not None:
                self._observer.shed(f"GET {route}")
            return _error(429, OVERLOADED, {"Retry-After": "1"})
        try:
            words = await asyncio.get_running_loop().run_in_executor(None, call)
        finally:
            if place is not None:
                place.release()
        return web.json_response(words)

    async def _status(self, request: web.Request) -> web.Response:
        answerer = self._get_answerer()
        if answerer is None:
            return web.json_response({"status": "loading"}, status=503)
        return web.json_response(
            {
                "status": "ok",
                "model_version": answerer.model.version,
                "strategy": answerer.strategy.name,
            }
        )

    async def _explain(self, request: web.Request) -> web.Response:
        answerer = self._get_answerer()
        if answerer is None:
            return _error(503, LOADING)
        word, n = _single(request.query, "word"), _n_words(request.query)
        return await self._answer("/explain", lambda: answerer.explain(word, n))

    async def _guess(self, request: web.Request) -> web.Response:
        answerer = self._get_answerer()
        if answerer is None:
            return _error(503, LOADING)
        words, n = request.query.getall("words", []), _n_words(request.query)
        criteria = _criteria(request.query)
        return await self._answer("/guess", lambda: answerer.guess(words, n, criteria))
