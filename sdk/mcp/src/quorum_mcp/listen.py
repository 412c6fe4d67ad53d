"""The loopback socket of ``--http PORT``, for the gateway and the sample upstream alike."""

from __future__ import annotations

import argparse
import socket


class ListenError(Exception):
    """Nothing can listen on the port asked for (taken, or not allowed); the message says which."""


def port_argument(text: str) -> int:
    """``--http``'s value: 0 to 65535 (0: any free port); argparse names the option otherwise."""
    port = int(text) if text.strip().isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0: any free port)")
    return port


def listening_socket(port: int) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:``port``. Raises :class:`ListenError` when it cannot."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so (Nagle and the
    # peer's delayed ACK otherwise hold the last small write of each answer ~40 ms on loopback).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind(("127.0.0.1", port))
        # Listen before telling the port: a client that connects while the server is still
        # starting (the gateway checks its upstreams first) waits in the backlog, not refused.
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
    return sock
