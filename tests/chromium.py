"""Headless Chromium driven over the DevTools protocol on a pipe, to test pages as rendered.

``--remote-debugging-pipe`` makes Chromium read protocol messages from fd 3 and write to fd 4,
each a JSON object ending in a NUL byte, so no WebSocket client is needed. Chromium resolves no
host name and sends everything through a proxy that refuses, so a page reaching for the network
gets nowhere; :attr:`Page.requests` records every URL it asked for.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from hatbot.closing import Closing

#: Seconds any one protocol answer may take.
ANSWER_SECONDS = 30.0
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--hide-scrollbars", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--remote-debugging-pipe",
)  # fmt: skip


def find_chromium() -> str | None:
    """The Chromium executable on PATH, if any."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """A loaded tab: evaluate JavaScript in it, screenshot it, see what it requested."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session
        self.requests: list[str] = []

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` evaluated in the page."""
        answer = self.browser.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def screenshot(self, path: Path) -> None:
        """Save the whole page, beyond the window, as a PNG."""
        answer = self.browser.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            self.session,
        )
        path.write_bytes(base64.b64decode(answer["data"]))


class Chromium(Closing):
    """A headless Chromium child with its own profile in ``profile``."""

    def __init__(self, executable: str, profile: Path, width: int = 1200, height: int = 900):
        commands_read, commands_write = os.pipe()
        events_read, events_write = os.pipe()
        # Chromium wants the pipe at fds 3 and 4: move ours out of the way, then let bash put
        # them there (no preexec_fn in a threaded test process; dash takes one-digit fds only).
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands_read, events_write)]
        for fd in (commands_read, events_write):
            os.close(fd)
        command = [executable, *FLAGS, f"--user-data-dir={profile}"]
        command.append(f"--window-size={width},{height}")
        redirect = f'exec "$@" 3<&{high[0]} 4>&{high[1]} {high[0]}<&- {high[1]}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", redirect, "bash", *command],
            pass_fds=high,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in high:
            os.close(fd)
        self._commands = os.fdopen(commands_write, "wb")
        self._events = os.fdopen(events_read, "rb")
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        self._pages: dict[str, Page] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while chunk := self._events.read1(65536):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))
        self._messages.put(None)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        """Send a command and wait for its answer; events meanwhile go to :meth:`_event`."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._commands.write(json.dumps(message).encode() + b"\0")
        self._commands.flush()
        return self._wait(lambda m: m.get("id") == self._next_id)["result"]

    def _wait(self, wanted: Any) -> dict[str, Any]:
        while True:
            message = self._messages.get(timeout=ANSWER_SECONDS)
            if message is None:
                raise RuntimeError("chromium closed the DevTools pipe")
            if "error" in message:
                raise RuntimeError(f"DevTools: {message['error']}")
            self._event(message)
            if wanted(message):
                return message

    def _event(self, message: dict[str, Any]) -> None:
        page = self._pages.get(message.get("sessionId", ""))
        if page is not None and message.get("method") == "Network.requestWillBeSent":
            page.requests.append(message["params"]["request"]["url"])

    def open(self, url: str) -> Page:
        """A new tab that has loaded ``url`` (its load event fired)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        session: str = attached["sessionId"]
        page = Page(self, session)
        self._pages[page.session] = page
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable", {}, page.session)
        self.call("Page.navigate", {"url": url}, page.session)
        self._wait(
            lambda m: (
                m.get("method") == "Page.loadEventFired" and m.get("sessionId") == page.session
            )
        )
        return page

    def close(self) -> None:
        """Close the browser and wait for it; kill it if it does not go."""
        with contextlib.suppress(OSError, RuntimeError, queue.Empty):  # it may be gone already
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._commands.close()
