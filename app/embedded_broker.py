"""An MQTT broker inside the demo process (amqtt), so the demo needs only pip.

Production and the tests use a real Mosquitto; this is for a first look on a laptop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

from gridwatch.ports import free_port

log = logging.getLogger(__name__)


class _SnapshotIterDict(dict[Any, Any]):
    """amqtt 0.12.1 iterates its subscription table across awaits (retained messages for
    a connecting client) and deletes from it while iterating (a client's last
    unsubscribe). With 27 agents subscribing to their receipts at once that raised
    'dictionary changed size during iteration' and dropped connections. Iterating a
    snapshot of the keys makes both safe; a topic added meanwhile is simply not in
    that pass."""

    def __iter__(self) -> Iterator[Any]:
        return iter(list(super().keys()))


class EmbeddedBroker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"embedded MQTT broker did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"embedded MQTT broker failed: {self._error}")

    def _run(self) -> None:
        from amqtt.broker import Broker

        # amqtt logs every connection at INFO; the demo's own output is what matters.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        try:
            self._broker = Broker(config, loop=loop)
            self._broker._subscriptions = _SnapshotIterDict(self._broker._subscriptions)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._broker is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop)
        try:
            fut.result(10)
        except Exception:
            log.warning("embedded broker did not shut down cleanly", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
