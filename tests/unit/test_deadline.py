"""The command-wide deadline: watched sockets are shut down when it passes, by one watchdog thread for the process."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from skillctl.core.deadline import Deadline
from skillctl.core.errors import DeadlineExceeded


def _reader(sock: socket.socket, out: list[bytes]) -> threading.Thread:
    thread = threading.Thread(target=lambda: out.append(sock.recv(10)), daemon=True)
    thread.start()
    return thread


def test_a_watched_socket_is_shut_down_when_the_deadline_passes() -> None:
    a, b = socket.socketpair()
    with a, b:
        deadline = Deadline(0.2)
        deadline.watch(a)
        out: list[bytes] = []
        reader = _reader(a, out)
        reader.join(5)
        assert not reader.is_alive() and out == [b""]  # the blocked recv returned: the socket was shut down
        with pytest.raises(DeadlineExceeded, match=r"--timeout of 0\.2s reached"):
            deadline.remaining("reading")


def test_earlier_deadlines_expire_first_whatever_the_order_they_were_watched_in() -> None:
    late, early = Deadline(30), Deadline(0.2)
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        late.watch(pairs[0][0])
        early.watch(pairs[1][0])
        out: list[bytes] = []
        reader = _reader(pairs[1][0], out)
        reader.join(5)
        assert out == [b""]
        pairs[0][1].send(b"x")  # the late deadline's socket still works
        assert pairs[0][0].recv(1) == b"x"
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_an_unwatched_socket_is_left_alone() -> None:
    a, b = socket.socketpair()
    with a, b:
        deadline = Deadline(0.1)
        deadline.watch(a)
        deadline.unwatch(a)
        time.sleep(0.3)
        b.send(b"y")
        assert a.recv(1) == b"y"


def test_many_deadlines_watched_at_once_share_one_thread() -> None:
    """A server reading from many registries at once: one thread waits for all their deadlines."""
    a, b = socket.socketpair()
    with a, b:
        before = threading.active_count()
        deadlines = [Deadline(60 + i) for i in range(200)]
        for deadline in deadlines:
            deadline.watch(a)
        assert threading.active_count() <= before + 1
        for deadline in deadlines:
            deadline.unwatch(a)
