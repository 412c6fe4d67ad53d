"""The gateway's ask from its event loop (``quorum_mcp.loop_ask``): an ``allowed`` answer is taken
from there; any other answer leaves the call to the SDK's gate with the same idempotency key, and
Quorum answers that replay with the request it stored (one request, not two). Kept-alive
connections the server closed meanwhile are replaced; answers h11 refuses or that are not an
``allowed`` JSON answer, a custom transport and an environment proxy all leave the ask to the SDK."""

from __future__ import annotations

import asyncio
import json

import anyio
import httpx
import pytest
from quorum_mcp.loop_ask import LoopAsk
from quorum_sdk import ActionDenied, QuorumClient, new_idempotency_key

from actions.models import ActionRequest

from .conftest import in_own_thread

ORDER = {"customer_tier": "standard", "order_id": "A-1001"}
ALLOWED = {"id": "7", "status": "allowed"}


def _ask(client: QuorumClient, amount: float, key: str):
    async def main():
        ask = LoopAsk(client)
        try:
            return await ask.allowed("payments.refund", {"amount_usd": amount, **ORDER}, key)
        finally:
            ask.close()

    return in_own_thread(lambda: anyio.run(main))


@pytest.mark.django_db(transaction=True)
def test_allowed_on_the_loop_and_the_rest_replayed_by_the_sdk(live_server, agent_key, gated_agent):
    with QuorumClient(live_server.url, agent_key) as client:
        key = new_idempotency_key("act")
        action = _ask(client, 10, key)
        assert action is not None and action["status"] == "allowed"
        assert ActionRequest.objects.get(idempotency_key=key).status == "allowed"

        # Denied (the policy denies amounts <= 0): not taken on the loop; the SDK's gate replays
        # the key, raises with the policy's reason, and Quorum still holds one request.
        key = new_idempotency_key("act")
        assert _ask(client, 0, key) is None
        with pytest.raises(ActionDenied):
            client.gate("payments.refund", parameters={"amount_usd": 0, **ORDER}, idempotency_key=key).check()
        assert ActionRequest.objects.filter(idempotency_key=key).count() == 1

        # Pending (above 50 USD: two support managers): left to the SDK's wait, one request.
        key = new_idempotency_key("act")
        assert _ask(client, 120, key) is None
        assert (
            client.request_action("payments.refund", {"amount_usd": 120, **ORDER}, idempotency_key=key)["status"]
            == "pending"
        )
        assert ActionRequest.objects.filter(idempotency_key=key).count() == 1


def _fake_quorum(answers: list[bytes]):
    """A loopback HTTP server answering each request with the next of ``answers`` (raw bytes),
    closing the connection after an answer followed by ``b"CLOSE"`` in the list, and on
    ``b"DROP"`` closing it without answering the request it read. Answers the connection handler
    and the list of (connection number, request head) it saw."""
    seen: list[tuple[int, bytes]] = []
    pending = list(answers)
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        number = count
        try:
            while pending:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                seen.append((number, head))
                if pending[0] == b"DROP":
                    pending.pop(0)
                    break
                writer.write(pending.pop(0))
                await writer.drain()
                if pending and pending[0] == b"CLOSE":
                    pending.pop(0)
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    return handle, seen


def _response(body: dict, *, headers: str = "") -> bytes:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n{headers}Content-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def _run_against(answers: list[bytes], asks: int, **client_options):
    handle, seen = _fake_quorum(answers)

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = QuorumClient(f"http://127.0.0.1:{port}", "qk_test", **client_options)
        ask = LoopAsk(client)
        try:
            results = []
            for _ in range(asks):
                results.append(await ask.allowed("payments.refund", {"amount_usd": 1}, new_idempotency_key("act")))
                await asyncio.sleep(0.05)  # the server's close reaches the client
            return results
        finally:
            ask.close()
            client.close()
            server.close()
            await server.wait_closed()

    return in_own_thread(lambda: asyncio.run(main())), seen


def test_a_kept_connection_is_reused_and_replaced_once_the_server_closed_it():
    results, seen = _run_against([_response(ALLOWED), _response(ALLOWED), b"CLOSE", _response(ALLOWED)], asks=3)
    assert results == [ALLOWED, ALLOWED, ALLOWED]
    assert [number for number, _head in seen] == [1, 1, 2]
    head = seen[0][1].decode()
    assert "Authorization: Bearer qk_test" in head and "Idempotency-Key: act-" in head


def test_a_request_the_server_dropped_on_a_kept_connection_is_sent_again_once():
    # The server closes a kept connection as the next request arrives (its keep-alive timeout):
    # sent again on a new connection, with the same idempotency key.
    results, seen = _run_against([_response(ALLOWED), b"DROP", _response(ALLOWED)], asks=2)
    assert results == [ALLOWED, ALLOWED]
    assert [number for number, _head in seen] == [1, 1, 2]
    keys = [next(line for line in head.split(b"\r\n") if line.startswith(b"Idempotency-Key")) for _n, head in seen[1:]]
    assert keys[0] == keys[1]


def test_connection_close_is_honoured_and_unread_answers_go_to_the_sdk():
    chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    closing = _response(ALLOWED, headers="Connection: close\r\n")
    results, seen = _run_against([closing, b"CLOSE", chunked, b"CLOSE", _response({"status": "pending"})], asks=3)
    assert results == [ALLOWED, None, None]
    assert [number for number, _head in seen] == [1, 2, 3]


def test_a_chunked_answer_is_read_and_its_connection_kept():
    # h11 reads chunked bodies (a proxy or server may send them): the answer is taken on the loop.
    data = json.dumps(ALLOWED).encode()
    chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)
    results, seen = _run_against([chunked, _response(ALLOWED)], asks=2)
    assert results == [ALLOWED, ALLOWED]
    assert [number for number, _head in seen] == [1, 1]


def test_an_answer_with_a_status_or_length_that_is_not_a_number_goes_to_the_sdk():
    bad_status = b"HTTP/1.1 2x1 Created\r\nContent-Length: 2\r\n\r\n{}"
    bad_length = b"HTTP/1.1 201 Created\r\nContent-Length: two\r\n\r\n{}"
    results, _seen = _run_against([bad_status, b"CLOSE", bad_length, b"CLOSE"], asks=2)
    assert results == [None, None]


def test_a_custom_transport_or_a_proxy_is_never_bypassed(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    client = QuorumClient("http://127.0.0.1:9", "qk_test", transport=httpx.MockTransport(lambda request: None))
    assert not LoopAsk(client).enabled
    assert LoopAsk(QuorumClient("http://quorum.example", "qk_test")).enabled
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert not LoopAsk(QuorumClient("http://quorum.example", "qk_test")).enabled
    monkeypatch.setenv("NO_PROXY", "quorum.example")
    assert LoopAsk(QuorumClient("http://quorum.example", "qk_test")).enabled
