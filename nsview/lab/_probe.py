"""One lab probe with real traffic. Standard library only.

Run inside the client's network namespace (``nsenter --net=… python -I _probe.py``)
with a JSON request on argv[1]; prints ``{"ok": bool, "detail": str}``. ``ok``
says whether the peer *answered*; the caller decides whether that was expected.

Kinds: ``http`` (GET, optional expected body substring), ``tcp`` (connect and
read a banner), ``icmp`` (echo request over a raw socket, optional payload size
with the don't-fragment bit set).
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import time


def _http(req: dict) -> tuple[bool, str]:
    host, port = req["host"], int(req.get("port", 80))
    timeout = float(req.get("timeout", 5))
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET / HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    text = data.decode(errors="replace")
    status = text.split("\r\n", 1)[0]
    body = text.split("\r\n\r\n", 1)[1].strip() if "\r\n\r\n" in text else ""
    want = req.get("expect")
    if not status.startswith("HTTP/1.0 200") and not status.startswith("HTTP/1.1 200"):
        return False, f"answer {status!r}"
    if want and want not in body:
        return False, f"200 but body {body!r} lacks {want!r}"
    return True, f"{status.split(' ', 1)[1]}: {body}"


def _tcp(req: dict) -> tuple[bool, str]:
    host, port = req["host"], int(req["port"])
    with socket.create_connection((host, port), timeout=float(req.get("timeout", 5))) as s:
        banner = s.recv(256).decode(errors="replace").strip()
    return True, f"connected, banner {banner!r}"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _icmp(req: dict) -> tuple[bool, str]:
    host = req["host"]
    size = int(req.get("size", 56))
    timeout = float(req.get("timeout", 2))
    tries = int(req.get("tries", 3))
    ident = os.getpid() & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        if req.get("dont_fragment"):
            # IP_MTU_DISCOVER = IP_PMTUDISC_DO: the kernel refuses what would fragment
            s.setsockopt(socket.IPPROTO_IP, 10, 2)
        last = "no reply"
        for seq in range(1, tries + 1):
            payload = bytes(size)
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq)
            try:
                s.sendto(packet + payload, (host, 0))
            except OSError as exc:
                return False, f"send: {exc.strerror}"
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([s], [], [], left)
                if not ready:
                    break
                data, addr = s.recvfrom(65535)
                ihl = (data[0] & 0x0F) * 4
                kind, _code, _sum, rid, rseq = struct.unpack("!BBHHH", data[ihl : ihl + 8])
                if kind == 0 and rid == ident and rseq == seq:
                    return True, f"echo reply from {addr[0]} ({size} bytes, try {seq})"
                if kind == 3:
                    last = f"destination unreachable from {addr[0]}"
    return False, last


def main() -> int:
    req = json.loads(sys.argv[1])
    kind = req["kind"]
    try:
        ok, detail = {"http": _http, "tcp": _tcp, "icmp": _icmp}[kind](req)
    except TimeoutError:
        ok, detail = False, "timed out"
    except OSError as exc:
        ok, detail = False, exc.strerror or str(exc)
    print(json.dumps({"ok": ok, "detail": detail}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
