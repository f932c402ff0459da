"""A network link the test can cut and restore: a TCP relay in front of a real broker.

Stopping the broker to break an agent's link also drops the test's own subscribers, and a
subscriber that joins again after the restart can miss what an agent sent in the first
milliseconds (the race that made a reconnect look 30 s late: the resend after the receipt
timeout was the first message the late subscriber saw). Cutting the link instead keeps
the broker and its subscribers up, so they see the agent's first message whenever it
comes.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from gridwatch.ports import free_port

ACCEPT_POLL_S = 0.05  # how soon the accept loop notices a cut


class CuttableLink:
    """Relays 127.0.0.1:`port` to the upstream address while up. `cut()` closes every
    relayed connection (the agent sees its socket end, as when a cable is pulled and the
    far side answers with a reset) and refuses new ones until `restore()`."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self.restore()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def restore(self) -> None:
        """Listen again on the same port: the link is back."""
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        listener.settimeout(ACCEPT_POLL_S)
        with self._lock:
            self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True,
                                           name="link-accept")
        self._accepting.start()

    def cut(self) -> None:
        """Stop listening and end every relayed connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            listener.close()
        if self._accepting is not None:
            self._accepting.join(5)
        for conn in conns:
            _close(conn)

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    return
            try:
                near, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut()
            try:
                far = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(near)
                continue
            near.settimeout(None)
            far.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut while we were connecting
                    _close(near)
                    _close(far)
                    return
                self._conns += [near, far]
            for src, dst in ((near, far), (far, near)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True,
                                 name="link-pump").start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass  # the other side or cut() closed it
    _close(src)
    _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already shut by the other pump or cut()
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
