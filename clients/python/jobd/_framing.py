"""nng's SP wire format, as jobd's REP socket speaks it (nng 1.5.2).

This is a pure implementation of the transport, with nothing but the
standard library, for three reasons: Debian has no Python binding for nng;
it installs anywhere; and it lets the client redial by itself and keep
several calls in flight on one connection (nng 1.5.2's REQ socket sometimes
stops redialing after the daemon dies, and keeps one call per context).

Connection header (sp-tcp-mapping-01 section 3, sp-ipc-mapping-01; nng
src/sp/transport/tcp/tcp.c and ipc/ipc.c): once connected, each side sends
8 bytes, ``00 'S' 'P' 00``, its 16-bit big-endian protocol id (REQ 48,
REP 49), ``00 00``; a peer whose header differs, or that does not speak
REP, is refused.

Messages: over ``tcp://`` and ``tls+tcp://`` (the same bytes inside TLS),
an 8-byte big-endian length, then the payload (sp-tcp-mapping-01). Over
``ipc://`` (a Unix stream socket), one byte of message type, 0x01, then the
length and the payload (sp-ipc-mapping-01; nng's ipc.c writes and checks the
type byte).

Payload (sp-request-reply-01 section 4; nng src/sp/protocol/reqrep0/
req.c): a request starts with a 4-byte big-endian request id whose high bit
is set (the end of the backtrace); the reply starts with the same 4 bytes.
The rest is the body: a jobd.v1.Request, or a jobd.v1.Response.

:class:`Decoder` takes bytes as they come, in pieces of any size, and gives
whole replies; it never holds more than one message.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

PROTO_REQ = 48
PROTO_REP = 49
HEADER_LEN = 8
ID_BIT = 0x80000000
# The largest request jobd takes (request_bytes in daemon/limit.h): larger
# ones are refused before they are sent.
MAX_REQUEST = 2 << 20
# The largest reply the client takes: jobd's reply_bytes (16 MiB) and the
# envelope around it. A larger one closes the connection.
MAX_REPLY = (16 << 20) + 4096


def sp_header(proto: int = PROTO_REQ) -> bytes:
    """The 8 bytes a side sends first."""
    return b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00"


def check_peer_header(head: bytes) -> str | None:
    """None when ``head`` is a REP peer's header; else what is wrong."""
    if len(head) != HEADER_LEN or head[0:4] != b"\x00SP\x00" \
            or head[6:8] != b"\x00\x00":
        return f"not an SP peer (header {head.hex()})"
    proto = struct.unpack(">H", head[4:6])[0]
    if proto != PROTO_REP:
        return f"peer speaks SP protocol {proto}, not REP ({PROTO_REP})"
    return None


@dataclass(frozen=True)
class Address:
    """A parsed jobd address: scheme 'tcp', 'tls+tcp' or 'ipc'."""

    url: str
    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def ipc(self) -> bool:
        return self.scheme == "ipc"


def parse_address(url: str) -> Address:
    """Parse ``tcp://HOST:PORT``, ``tls+tcp://HOST:PORT`` or ``ipc://PATH``
    (the forms nng takes); ValueError when it is none of them."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"address '{url}' has no scheme (tcp://, "
                         "tls+tcp://, ipc://)")
    if scheme == "ipc":
        if not rest:
            raise ValueError(f"address '{url}' has no path")
        return Address(url, scheme, path=rest)
    if scheme not in ("tcp", "tls+tcp"):
        raise ValueError(f"address '{url}': scheme '{scheme}' is not "
                         "tcp, tls+tcp or ipc")
    try:
        parts = urlsplit("tcp://" + rest)
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise ValueError(f"address '{url}': {e}") from None
    if not host or port is None or parts.path:
        raise ValueError(f"address '{url}' is not SCHEME://HOST:PORT")
    return Address(url, scheme, host=host, port=port)


def request_id(n: int) -> int:
    """The wire id for counter value ``n``: 31 bits, the high bit set."""
    return ID_BIT | (n & 0x7FFFFFFF)


def frame(req_id: int, body: bytes, ipc: bool) -> bytes:
    """One request as it goes on the wire: framing, id, body."""
    n = 4 + len(body)
    head = (b"\x01" if ipc else b"") + struct.pack(">QI", n, req_id)
    return head + body


class ProtocolError(Exception):
    """The peer broke the wire format; the connection must be closed."""


class ReplyTooLarge(ProtocolError):
    """A reply longer than MAX_REPLY; ``req_id`` names its call."""

    def __init__(self, length: int, req_id: int) -> None:
        super().__init__(f"reply of {length} bytes is larger than the "
                         f"client's limit of {MAX_REPLY}")
        self.length = length
        self.req_id = req_id


class Decoder:
    """Turns the bytes of a connection (after the header) into replies.

    ``feed(data)`` returns the list of ``(req_id, body)`` completed by
    ``data``; it raises :class:`ProtocolError` for a bad type byte or a
    reply without an id, :class:`ReplyTooLarge` (once the id is known) for
    one over ``max_reply`` bytes.
    """

    def __init__(self, ipc: bool, max_reply: int = MAX_REPLY) -> None:
        self._ipc = ipc
        self._max = max_reply
        self._buf = bytearray()
        self._need: int | None = None  # payload length, once known
        self._hlen = 9 if ipc else 8

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while True:
            if self._need is None:
                if len(self._buf) < self._hlen:
                    return out
                if self._ipc and self._buf[0] != 1:
                    raise ProtocolError(
                        f"ipc message type {self._buf[0]}, not 1")
                n = struct.unpack_from(">Q", self._buf, self._hlen - 8)[0]
                if n < 4:
                    raise ProtocolError(f"reply of {n} bytes has no "
                                        "request id")
                if n > self._max:
                    if len(self._buf) < self._hlen + 4:
                        return out
                    rid = struct.unpack_from(">I", self._buf, self._hlen)[0]
                    raise ReplyTooLarge(n, rid)
                del self._buf[:self._hlen]
                self._need = n
            if len(self._buf) < self._need:
                return out
            rid = struct.unpack_from(">I", self._buf, 0)[0]
            body = bytes(self._buf[4:self._need])
            del self._buf[:self._need]
            self._need = None
            out.append((rid, body))


def random_start() -> int:
    """A random first request id counter, as nng starts its own."""
    return int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
