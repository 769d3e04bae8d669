"""Stop a listening TCP socket from taking new connections without closing it (Linux).

Closing a listening socket resets every connection the kernel has completed but the server has not yet
accepted: their callers, who already sent a request, see a reset instead of an answer. However the
shutdown waits for a quiet moment first, a caller can complete its handshake in the instant before the
close (on a busy machine the wait itself may stall past the moment it measures). So before it closes,
the drain (:mod:`api.lifecycle`) attaches a socket filter that drops new SYNs: no connection completes
any more, those already queued are accepted and answered (a 503), the queue empties, and only then does
the listener close. A caller whose SYN was dropped retries it (after about 1 s) and is refused by then:
a refusal, unlike a reset, is safe to retry elsewhere.

The filter stays on the socket for as long as the socket lives, so it is only for a listener this process
owns alone: ``sift serve`` with one worker says so (:data:`SOLE_LISTENER_ENV`). Several workers share one
socket; there, closing one worker's copy resets nobody and a filter would shut out the others.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import socket
import struct
import sys

logger = logging.getLogger(__name__)

SOLE_LISTENER_ENV = "SIFT_SOLE_LISTENER"  # "1" when this process alone holds its listening sockets (sift serve, 1 worker)
_SO_ATTACH_FILTER = 26  # from <asm-generic/socket.h>; Python does not export it

# Classic BPF, run on each segment reaching the listener, the TCP header at offset 0:
#   ldb [13]; and #0x12 (SYN|ACK); jeq #0x02 (SYN alone) ? drop : keep
_DROP_NEW_SYN = [(0x30, 0, 0, 13), (0x54, 0, 0, 0x12), (0x15, 0, 1, 0x02), (0x06, 0, 0, 0), (0x06, 0, 0, 0xFFFFFFFF)]


def sole_listener() -> bool:
    return os.environ.get(SOLE_LISTENER_ENV) == "1"


def listening_sockets() -> list[socket.socket]:
    """This process's listening TCP sockets, as duplicates (closing one leaves the original open)."""
    if not sys.platform.startswith("linux"):
        return []
    found, seen = [], set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
            if not target.startswith("socket:") or target in seen:  # a duplicate made here may reuse a listed number
                continue
            seen.add(target)
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:  # closed meanwhile (the listdir's own descriptor, for one)
            continue
        if (sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
                and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
            found.append(sock)
        else:
            sock.close()
    return found


def refuse_new_connections(sock: socket.socket) -> None:
    """From now on ``sock`` completes no new handshake; connections already queued stay queued."""
    program = (ctypes.c_uint64 * len(_DROP_NEW_SYN))(
        *(code | jt << 16 | jf << 24 | k << 32 for code, jt, jf, k in _DROP_NEW_SYN))
    fprog = struct.pack("HL", len(_DROP_NEW_SYN), ctypes.addressof(program))  # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


def queued(sock: socket.socket) -> int:
    """How many completed connections wait in ``sock``'s accept queue (tcp_info's tcpi_unacked on a listener)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 32)
    return int(struct.unpack_from("I", info, 24)[0])


class Closing:
    """The listeners of this process, from the moment the drain stops taking connections."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def refuse(self) -> None:
        """Stop completing new connections, where this process alone holds its listeners; else do nothing."""
        if not sole_listener():
            return
        for sock in listening_sockets():
            try:
                refuse_new_connections(sock)
            except OSError as exc:
                logger.warning("could not stop new connections before closing (%s): a caller arriving at the close "
                               "may be reset", exc.strerror)
                sock.close()
                continue
            self.sockets.append(sock)

    def queued(self) -> int:
        total = 0
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                total += queued(sock)
        return total

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets = []
