"""The kept-alive sessions one command's reads share (``client.kept_connections``), and when they are not used."""

from __future__ import annotations

import threading

import pytest

from skillctl.core.registry_options import RegistryOptions
from skillctl.registry.client import kept_connections, pooled_session, proxied

HOST = "127.0.0.1:1"  # nothing is sent: sessions connect on their first request


def test_a_command_shares_one_session_per_registry_until_its_last_user_leaves() -> None:
    opts = RegistryOptions(tls_verify=False).started()
    assert pooled_session(HOST, opts) is None  # outside a block: one-shot reads
    closed: list[bool] = []
    entered, first_left, checked = threading.Event(), threading.Event(), threading.Event()
    seen: list[object] = []

    def second_user() -> None:  # another pull of the same command (`skillctl sync` pulls in parallel)
        with kept_connections(opts):
            seen.append(pooled_session(HOST, opts))
            entered.set()
            first_left.wait(10)
            seen.append(pooled_session(HOST, opts))
            seen.append(list(closed))
        checked.set()

    with kept_connections(opts):
        session = pooled_session(HOST, opts)
        assert session is not None and pooled_session(HOST, opts) is session
        assert pooled_session("127.0.0.1:2", opts) is not session
        session.close = lambda: closed.append(True)  # type: ignore[method-assign]
        threading.Thread(target=second_user).start()
        assert entered.wait(10)
    first_left.set()  # the first user has left; the second still reads
    assert checked.wait(10)
    assert seen == [session, session, []]  # shared, and still open while the second user needed it
    assert closed == [True]  # closed once, when the last user left
    assert pooled_session(HOST, opts) is None


def test_other_commands_get_sessions_of_their_own() -> None:
    first, second = RegistryOptions().started(), RegistryOptions().started()
    with kept_connections(first), kept_connections(second):
        assert pooled_session(HOST, first) is not pooled_session(HOST, second)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"HTTPS_PROXY": "http://proxy.corp:3128"}, True),
        ({"http_proxy": "http://proxy.corp:3128"}, True),
        ({"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "registry.corp"}, False),
        ({"HTTPS_PROXY": "http://proxy.corp:3128", "no_proxy": ".corp"}, False),
    ],
)
def test_a_proxy_from_the_environment_keeps_reads_off_the_sessions(
    env: dict[str, str], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert proxied("registry.corp:5000") is expected
    opts = RegistryOptions().started()
    with kept_connections(opts):
        assert (pooled_session("registry.corp:5000", opts) is None) is expected
