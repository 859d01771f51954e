"""A switchable TCP proxy on a loopback port: the load balancer in front of several web processes.

Every connection goes to the current target; ``switch(port)`` sends new connections to another target and cuts
the open ones, as a balancer does when it drains a backend (the browser's websocket then reconnects, through
the proxy, to the new target). ``accepted`` counts the connections each target was given.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter


class SwitchProxy:
    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.accepted: Counter[int] = Counter()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept_loop, name="switch-proxy", daemon=True).start()

    def switch(self, target_port: int) -> None:
        with self._lock:
            self._target = target_port
            doomed, self._open = self._open, set()
        for sock in doomed:
            _close(sock)

    def close(self) -> None:
        self._closed = True
        _close(self._listener)
        self.switch(0)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                target = self._target
                self.accepted[target] += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", target), timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
