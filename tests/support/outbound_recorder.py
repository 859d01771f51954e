"""Records every outbound connection attempt made while it is armed, from any thread, loopback included.

The outbound guard (tests/plugins/guard.py) refuses non-loopback HTTP and lets loopback through, so a page that
talked to the simulator on 127.0.0.1 would pass it. This recorder is stricter: while armed, every attempt is
recorded, on every layer Python code reaches the network through:

- httpx (``Client.send`` / ``AsyncClient.send``: every request, whatever the transport);
- urllib (``OpenerDirector.open``, which ``urlopen`` uses) and ``http.client`` (``HTTPConnection.connect``);
- sockets: ``socket.connect`` / ``connect_ex`` (so asyncio streams, redis-py and anything else written in
  Python), ``sendto`` (datagrams need no connect) and host-name lookups (a lookup is a query to a resolver).

Only the socket layer has exceptions: the test's own PostgreSQL and Redis (``ATLAS_DATABASE_URL``,
``ATLAS_REDIS_URL``). HTTP is never expected, so every HTTP attempt is recorded. One request can show up on
several layers (httpx, then its socket); what matters is whether anything shows up at all.

Not seen: connections opened by C libraries without Python's socket module, such as libpq (psycopg), which
only ever reaches the allowed PostgreSQL anyway.

Attempts are recorded, not blocked, so a test can show that the call really happened and was noticed.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import threading
import traceback
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

_PROJECT = str(Path(__file__).resolve().parents[2])
# Frames here are test machinery (this recorder, the outbound guard's wrappers), never the code that reached out.
_MACHINERY = ("tests/support/", "tests/plugins/", ".venv/")
_UNSET = object()


@dataclass(frozen=True)
class Attempt:
    """One outbound attempt: the layer that saw it, where to, and the project code that made it."""

    layer: str
    target: str
    origin: str = ""

    def __str__(self) -> str:
        return f"{self.layer} → {self.target}" + (f" (from {self.origin})" if self.origin else "")


@dataclass(frozen=True)
class Backing:
    """The socket endpoints a test may reach: (address, port) pairs (host names resolved too), the host names
    themselves (for lookups) and Unix socket paths."""

    addresses: frozenset[tuple[str, int]] = frozenset()
    names: frozenset[str] = frozenset()
    unix_paths: frozenset[str] = frozenset()

    def allows(self, address: Any) -> bool:
        if isinstance(address, str | bytes):
            return os.fsdecode(address) in self.unix_paths
        if isinstance(address, tuple) and len(address) >= 2:
            return (_normal_host(str(address[0])), address[1]) in self.addresses
        return False


def _ip(host: str) -> str | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0].strip("[]")).compressed
    except ValueError:
        return None


def _normal_host(host: str) -> str:
    return _ip(host) or host.lower()


def backing_from_environment(environ: Mapping[str, str] | None = None) -> Backing:
    """The test's PostgreSQL and Redis, from ATLAS_DATABASE_URL and ATLAS_REDIS_URL (resolved now, unarmed)."""
    environ = os.environ if environ is None else environ
    endpoints: list[tuple[str, int]] = []
    unix_paths: list[str] = []
    database = environ.get("ATLAS_DATABASE_URL")
    if database:
        parts = urllib.parse.urlsplit(database)
        port = parts.port or 5432
        socket_dirs = urllib.parse.parse_qs(parts.query).get("host", [])
        unix_paths += [f"{directory.rstrip('/')}/.s.PGSQL.{port}" for directory in socket_dirs]
        if parts.hostname:
            endpoints.append((parts.hostname, port))
    redis = environ.get("ATLAS_REDIS_URL")
    if redis:
        parts = urllib.parse.urlsplit(redis)
        if parts.scheme == "unix":
            unix_paths.append(parts.path)
        elif parts.hostname:
            endpoints.append((parts.hostname, parts.port or 6379))
    addresses = set()
    for host, port in endpoints:
        addresses.add((_normal_host(host), port))
        if _ip(host) is None:
            try:
                resolved = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except socket.gaierror:
                resolved = []  # nothing to connect to by address then; the name itself stays allowed
            addresses.update((_normal_host(str(sockaddr[0])), port) for *_, sockaddr in resolved)
    return Backing(frozenset(addresses), frozenset(h.lower() for h, _ in endpoints if _ip(h) is None),
                   frozenset(unix_paths))


def _origin() -> str:
    """The innermost project frame (application or test code) that led to the attempt, when the stack shows one.

    An attempt made from another asyncio task (anyio's connect, say) has no such frame on its stack.
    """
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(_PROJECT + os.sep):
            continue
        relative = os.path.relpath(frame.filename, _PROJECT)
        if not relative.startswith(_MACHINERY):
            return f"{relative}:{frame.lineno}"
    return ""


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return os.fsdecode(address) if isinstance(address, str | bytes) else repr(address)


@dataclass
class OutboundRecorder:
    """What was attempted while armed (see the module docstring); arm it with ``armed()``."""

    backing: Backing
    attempts: list[Attempt] = field(default_factory=list)

    def record(self, layer: str, target: str) -> None:
        self.attempts.append(Attempt(layer, target, _origin()))  # list.append is atomic: any thread may record

    def clear(self) -> None:
        self.attempts.clear()

    @contextmanager
    def armed(self) -> Iterator[OutboundRecorder]:
        # One at a time: a second set of patches would wrap the first, and undoing them out of order would
        # leave a recorder installed.
        if not _ARMING.acquire(blocking=False):
            raise RuntimeError("another outbound recorder is already armed")
        patches = _Patches()
        try:
            self._install(patches)
            yield self
        finally:
            patches.undo()
            _ARMING.release()

    def _install(self, patches: _Patches) -> None:
        recorder, backing = self, self.backing
        send, async_send = httpx.Client.send, httpx.AsyncClient.send
        opener_open = urllib.request.OpenerDirector.open
        http_connect = http.client.HTTPConnection.connect
        sock_connect, sock_connect_ex = socket.socket.connect, socket.socket.connect_ex
        sock_sendto = socket.socket.sendto
        getaddrinfo = socket.getaddrinfo

        def recorded_send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            recorder.record("httpx", f"{request.method} {request.url}")
            return send(self, request, **kwargs)

        async def recorded_async_send(self: httpx.AsyncClient, request: httpx.Request,
                                      **kwargs: Any) -> httpx.Response:
            recorder.record("httpx async", f"{request.method} {request.url}")
            return await async_send(self, request, **kwargs)

        def recorded_open(self: urllib.request.OpenerDirector, fullurl: Any, *args: Any, **kwargs: Any) -> Any:
            url = fullurl.full_url if isinstance(fullurl, urllib.request.Request) else str(fullurl)
            recorder.record("urllib", url)
            return opener_open(self, fullurl, *args, **kwargs)

        def recorded_http_connect(self: http.client.HTTPConnection) -> None:
            recorder.record("http.client", f"{self.host}:{self.port}")
            return http_connect(self)

        def recorded_connect(self: socket.socket, address: Any) -> None:
            if not backing.allows(address):
                recorder.record("socket.connect", _format_address(address))
            return sock_connect(self, address)

        def recorded_connect_ex(self: socket.socket, address: Any) -> int:
            if not backing.allows(address):
                recorder.record("socket.connect_ex", _format_address(address))
            return sock_connect_ex(self, address)

        def recorded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
            if args and not backing.allows(args[-1]):
                recorder.record("socket.sendto", _format_address(args[-1]))
            return sock_sendto(self, data, *args)

        def recorded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = os.fsdecode(host) if isinstance(host, str | bytes) else ""
            if name and _ip(name) is None and name.lower() not in backing.names:
                recorder.record("name lookup", f"{name}:{port}")
            return getaddrinfo(host, port, *args, **kwargs)

        patches.set(httpx.Client, "send", recorded_send)
        patches.set(httpx.AsyncClient, "send", recorded_async_send)
        patches.set(urllib.request.OpenerDirector, "open", recorded_open)
        patches.set(http.client.HTTPConnection, "connect", recorded_http_connect)
        patches.set(socket.socket, "connect", recorded_connect)
        patches.set(socket.socket, "connect_ex", recorded_connect_ex)
        patches.set(socket.socket, "sendto", recorded_sendto)
        patches.set(socket, "getaddrinfo", recorded_getaddrinfo)


_ARMING = threading.Lock()


class _Patches:
    """Attributes replaced while armed, put back exactly as they were (absent ones removed again)."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, vars(owner).get(name, _UNSET)))
        setattr(owner, name, value)

    def undo(self) -> None:
        for owner, name, previous in reversed(self._saved):
            if previous is _UNSET:
                delattr(owner, name)
            else:
                setattr(owner, name, previous)
        self._saved.clear()


def recording(backing: Backing | None = None) -> OutboundRecorder:
    """A recorder allowing only ``backing`` (by default the test's PostgreSQL and Redis); arm it with ``armed()``."""
    return OutboundRecorder(backing if backing is not None else backing_from_environment())


def describe(attempts: Iterable[Attempt]) -> str:
    return "\n".join(f"  {attempt}" for attempt in attempts) or "  (none)"
