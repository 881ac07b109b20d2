"""Ask an engine's HTTP API over its unix socket: one GET, a short timeout, JSON back.

Never required: a reader asks a socket only for what its state files do not
say, and a socket that is absent, closed to us, slow or answering nonsense is
a :class:`SocketError` (one line, for a diagnostic), never a hang.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any


class SocketError(Exception):
    """The socket could not answer (the message says why, in one line)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def get_json(path: str, url: str, timeout: float, limit: int = 16 << 20) -> Any:
    """GET ``url`` from the HTTP server on unix socket ``path``; the parsed JSON body."""
    conn = _UnixConnection(path, timeout)
    try:
        conn.request("GET", url, headers={"Host": "localhost"})
        response = conn.getresponse()
        body = response.read(limit + 1)
    except TimeoutError:
        raise SocketError(f"no answer within {timeout:g}s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise SocketError(str(exc) or type(exc).__name__) from None
    finally:
        conn.close()
    if response.status != 200:
        raise SocketError(f"GET {url}: HTTP {response.status}")
    if len(body) > limit:
        raise SocketError(f"GET {url}: answer larger than {limit} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise SocketError(f"GET {url}: not JSON") from None
