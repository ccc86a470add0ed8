from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from bridge.archive.api import ApiError, JsonResponse, archive_store, create_api_app
from bridge.archive.database import create_engine
from bridge.archive.openapi import Endpoint, error_responses, json_response, ref
from bridge.archive.records import CallEvent, ToolCall, TranscriptSegment
from bridge.archive.store import ArchiveStore
from bridge.web.asgi_server import serve_asgi
from tests.archive_fixtures import (  # noqa: F401
    T0,
    add_call,
    add_transcript,
    archive_target_fixture,
    store_fixture,
)

LOOPBACK = ("127.0.0.1", 50000)
WAV = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable


def mounted(api: Starlette) -> Starlette:
    return Starlette(routes=[Mount("/api", app=api)])


@asynccontextmanager
async def client_for(
    store: ArchiveStore,
    recordings: Path,
    *,
    token: str | None = None,
    client: tuple[str, int] = LOOPBACK,
    **extra: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    app = mounted(create_api_app(store, api_token=token, recordings_dir=recordings, **extra))
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as http:
        yield http


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    return folder


@pytest.fixture
async def http(store: ArchiveStore, recordings: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(store, recordings) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code and isinstance(body["error"]["message"], str)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}


# ---- access ----


async def test_bearer_token(store: ArchiveStore, recordings: Path) -> None:
    async with client_for(store, recordings, token="s3cret", client=("10.0.0.1", 123)) as http:
        missing = await http.get("/api/calls")
        assert_error(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await http.get("/api/calls", headers={"Authorization": "Bearer s3cre"})
        assert_error(wrong, 401, "unauthorized")
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        assert_error(await http.get("/api/calls", headers={"Authorization": "Basic czNjcmV0"}), 401, "unauthorized")
        assert_error(await http.get("/api/nowhere"), 401, "unauthorized")  # before routing: no probing
        ok = await http.get("/api/calls", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert (await http.get("/api/calls", headers={"Authorization": "bearer s3cret"})).status_code == 200


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("192.168.1.20", False),
        ("2001:db8::1", False),
        ("testclient", False),
    ],
)
async def test_without_a_token_only_loopback_is_served(
    store: ArchiveStore, recordings: Path, address: str, allowed: bool
) -> None:
    async with client_for(store, recordings, client=(address, 123)) as http:
        response = await http.get("/api/calls")
    if allowed:
        assert response.status_code == 200
    else:
        assert_error(response, 403, "forbidden")


async def test_no_token_warns_once_at_start(
    store: ArchiveStore, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bridge.archive.api"):
        async with client_for(store, recordings) as http:
            for _ in range(3):
                await http.get("/api/calls")
        async with client_for(store, recordings, token="t"):
            pass
    warnings = [r for r in caplog.records if "loopback" in r.getMessage()]
    assert len(warnings) == 1


# ---- calls ----


async def test_list_and_get_calls(store: ArchiveStore, http: httpx.AsyncClient) -> None:
    first = await add_call(store, 0, from_number="+15550001", dialplan="support", metadata={"k": 1})
    second = await add_call(store, 5)
    listed = (await http.get("/api/calls")).json()
    assert [c["id"] for c in listed["data"]] == [second, first] and listed["next_cursor"] is None
    got = await http.get(f"/api/calls/{first}")
    assert got.status_code == 200
    body = got.json()
    assert body["id"] == first and body["from"] == "+15550001" and body["metadata"] == {"k": 1}
    assert body["started_at"] == "2024-05-01T12:00:00.000Z" and body["has_recording"] is False
    assert body == listed["data"][1]


async def test_pagination_round_trip_is_stable_under_inserts(store: ArchiveStore, http: httpx.AsyncClient) -> None:
    made = [await add_call(store, m) for m in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/api/calls", params=params)).json()
        seen += [c["id"] for c in page["data"]]
        await add_call(store, 100 + len(seen))  # newer calls keep arriving
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


async def test_every_filter_through_the_api(store: ArchiveStore, http: httpx.AsyncClient) -> None:
    a = await add_call(store, 0, from_number="+15550001", to_number="+15559999", dialplan="sales")
    b = await add_call(store, 10, from_number="+15550002", to_number="+15559999", dialplan="support")
    await store.finish_call(a, ended_at=T0 + timedelta(minutes=1), end_reason="caller_hangup")
    await add_transcript(store, b, ["I was double charged on my invoice"])

    async def ids(**params: str) -> list[str]:
        response = await http.get("/api/calls", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert await ids(**{"from": "+15550001"}) == [a]  # httpx percent-encodes the '+'
    assert await ids(to="+15559999") == [b, a]
    assert await ids(dialplan="support") == [b]
    assert await ids(since="2024-05-01T12:10:00Z") == [b]
    assert await ids(until="2024-05-01T12:10:00+00:00") == [a]
    assert await ids(since="2024-05-01T14:05:00+02:00") == [b]
    assert await ids(end_reason="caller_hangup") == [a]
    assert await ids(q="invoice charged") == [b]
    assert await ids(q="refund") == []
    assert await ids(dialplan="", q="") == [b, a]  # empty means absent


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "201"}, "invalid_limit"),
        ({"limit": "-1"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"limit": "1.5"}, "invalid_limit"),
        ({"since": "yesterday"}, "invalid_filter"),
        ({"until": "2024-02-30T00:00:00Z"}, "invalid_filter"),
        ({"cursor": "garbage"}, "invalid_cursor"),
        ({"cursor": "WyJ4IiwgInkiXQ"}, "invalid_cursor"),
        ({"form": "+1"}, "unknown_parameter"),
        ([("dialplan", "a"), ("dialplan", "b")], "repeated_parameter"),
    ],
)
async def test_bad_list_parameters_are_400(http: httpx.AsyncClient, params: Any, code: str) -> None:
    assert_error(await http.get("/api/calls", params=params), 400, code)


async def test_limit_bounds_are_accepted(store: ArchiveStore, http: httpx.AsyncClient) -> None:
    for m in range(3):
        await add_call(store, m)
    one = (await http.get("/api/calls", params={"limit": "1"})).json()
    assert len(one["data"]) == 1 and one["next_cursor"] is not None
    assert len((await http.get("/api/calls", params={"limit": "200"})).json()["data"]) == 3


CALL_ROUTES = ["", "/transcript", "/events", "/tool_calls", "/recording.wav"]


@pytest.mark.parametrize("suffix", CALL_ROUTES)
async def test_call_routes_4xx(http: httpx.AsyncClient, suffix: str) -> None:
    assert_error(await http.get(f"/api/calls/01HX0000000000000000000000{suffix}"), 404, "not_found")
    assert_error(await http.get(f"/api/calls/bad.id{suffix}"), 400, "invalid_id")
    assert_error(await http.get(f"/api/calls/{'x' * 65}{suffix}"), 400, "invalid_id")
    assert_error(await http.get(f"/api/calls/x{suffix}", params={"nope": "1"}), 400, "unknown_parameter")


async def test_delete_4xx(http: httpx.AsyncClient) -> None:
    assert_error(await http.delete("/api/calls/01HX0000000000000000000000"), 404, "not_found")
    assert_error(await http.delete("/api/calls/bad.id"), 400, "invalid_id")


async def test_unknown_routes_and_methods_answer_json(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/api/nowhere"), 404, "not_found")
    wrong_method = await http.post("/api/calls")
    assert_error(wrong_method, 405, "method_not_allowed")
    assert "GET" in wrong_method.headers["allow"]


# ---- transcript, events, tool calls ----


async def seed_transcript(store: ArchiveStore) -> str:
    call_id = await add_call(store, 0)
    await store.add_transcript_segments(
        call_id,
        [
            TranscriptSegment(0, "caller", 0, 1500, "I need to change my booking"),
            TranscriptSegment(
                1, "agent", 1600, 5000, "Of course. Can you give me the reference?", heard_text="Of course.", cut=True
            ),
            TranscriptSegment(2, "caller", 3000, 4000, "It's ABC123"),
            TranscriptSegment(0, "caller", 0, 1400, "I need to change my booking.", source="post"),
        ],
    )
    return call_id


async def test_transcript_json_marks_the_cut(store: ArchiveStore, http: httpx.AsyncClient) -> None:
    call_id = await seed_transcript(store)
    response = await http.get(f"/api/calls/{call_id}/transcript")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(s["source"], s["seq"]) for s in data] == [("live", 0), ("post", 0), ("live", 1), ("live", 2)]
    cut = data[2]
    assert cut["cut"] is True and cut["heard_text"] == "Of course."
    assert cut["text"] == "Of course. Can you give me the reference?"
    live = (await http.get(f"/api/calls/{call_id}/transcript", params={"source": "live", "format": "json"})).json()
    assert [s["source"] for s in live["data"]] == ["live"] * 3


async def test_transcript_text_formats(store: ArchiveStore, http: httpx.AsyncClient) -> None:
    call_id = await seed_transcript(store)
    url = f"/api/calls/{call_id}/transcript"
    txt = await http.get(url, params={"format": "txt", "source": "live"})
    assert txt.headers["content-type"] == "text/plain; charset=utf-8"
    assert txt.text == (
        "[00:00:00.000] Caller: I need to change my booking\n"
        "[00:00:01.600] Agent: Of course. [cut]\n"
        "[00:00:03.000] Caller: It's ABC123\n"
    )
    srt = await http.get(url, params={"format": "srt", "source": "live"})
    assert srt.headers["content-type"] == "application/x-subrip; charset=utf-8"
    assert "2\n00:00:01,600 --> 00:00:05,000\nAgent: Of course. [cut]\n" in srt.text
    vtt = await http.get(url, params={"format": "vtt", "source": "post"})
    assert vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    assert vtt.text == "WEBVTT\n\n00:00:00.000 --> 00:00:01.400\n<v Caller>I need to change my booking.\n"


@pytest.mark.parametrize(
    ("params", "code"), [({"format": "pdf"}, "invalid_format"), ({"source": "both"}, "invalid_source")]
)
async def test_transcript_bad_parameters(
    store: ArchiveStore, http: httpx.AsyncClient, params: dict[str, str], code: str
) -> None:
    call_id = await add_call(store, 0)
    assert_error(await http.get(f"/api/calls/{call_id}/transcript", params=params), 400, code)


async def test_events_and_tool_calls(store: ArchiveStore, http: httpx.AsyncClient) -> None:
    call_id = await add_call(store, 0)
    await store.add_events(
        call_id, [CallEvent(0, 0, "session", {"model": "gpt-realtime"}), CallEvent(1, 900, "barge_in")]
    )
    await store.add_tool_calls(call_id, [ToolCall("call_9", "lookup", {"ref": "ABC123"}, "ok", 2000, 35, "found")])
    events = (await http.get(f"/api/calls/{call_id}/events")).json()
    assert events == {
        "data": [
            {"seq": 0, "at_ms": 0, "kind": "session", "data": {"model": "gpt-realtime"}},
            {"seq": 1, "at_ms": 900, "kind": "barge_in", "data": {}},
        ]
    }
    tools = (await http.get(f"/api/calls/{call_id}/tool_calls")).json()
    assert tools == {
        "data": [
            {
                "call_id_model": "call_9",
                "name": "lookup",
                "arguments": {"ref": "ABC123"},
                "status": "ok",
                "started_at_ms": 2000,
                "duration_ms": 35,
                "output": "found",
            }
        ]
    }


# ---- recordings ----


async def with_recording(store: ArchiveStore, recordings: Path, content: bytes = WAV) -> tuple[str, Path]:
    call_id = await add_call(store, 0)
    path = recordings / f"{call_id}.wav"
    path.write_bytes(content)
    await store.update_call(call_id, recording_path=str(path), recording_bytes=len(content))
    return call_id, path


async def test_recording_full_and_ranges(store: ArchiveStore, recordings: Path, http: httpx.AsyncClient) -> None:
    call_id, _ = await with_recording(store, recordings)
    url = f"/api/calls/{call_id}/recording.wav"
    full = await http.get(url)
    assert full.status_code == 200 and full.content == WAV
    assert full.headers["content-type"] == "audio/wav"
    assert full.headers["accept-ranges"] == "bytes" and full.headers["content-length"] == "1024"
    assert "content-range" not in full.headers
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=1000-": (1000, 1023),  # open-ended
        "bytes=-24": (1000, 1023),  # suffix
        "bytes=-5000": (0, 1023),  # suffix longer than the file
        "bytes=1020-5000": (1020, 1023),
    }
    for header, (first, last) in cases.items():
        part = await http.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == WAV[first : last + 1], header
        assert part.headers["content-range"] == f"bytes {first}-{last}/1024"
        assert part.headers["content-length"] == str(last - first + 1)
        assert part.headers["accept-ranges"] == "bytes"
    for header in ("bytes=1024-", "bytes=5000-6000", "bytes=-0"):
        unsatisfiable = await http.get(url, headers={"Range": header})
        assert_error(unsatisfiable, 416, "range_not_satisfiable")
        assert unsatisfiable.headers["content-range"] == "bytes */1024"
    for header in ("bytes=0-1,5-6", "lines=1-2", "bytes=9-3"):  # ignored: the whole file
        ignored = await http.get(url, headers={"Range": header})
        assert ignored.status_code == 200 and ignored.content == WAV
    head = await http.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == "1024" and head.content == b""


async def test_recording_streams_large_files_in_chunks(store: ArchiveStore, recordings: Path) -> None:
    big = bytes(range(251)) * 2000  # 502 kB, several 64 kB chunks
    call_id, _ = await with_recording(store, recordings, big)
    api = mounted(create_api_app(store, api_token=None, recordings_dir=recordings))
    async with serve_asgi(api) as server, httpx.AsyncClient(base_url=server.http_url) as http:
        url = f"/api/calls/{call_id}/recording.wav"
        assert (await http.get(url)).content == big
        part = await http.get(url, headers={"Range": "bytes=70000-200000"})
        assert part.status_code == 206 and part.content == big[70000:200001]


async def test_a_client_leaving_mid_download_closes_the_file(store: ArchiveStore, recordings: Path) -> None:
    huge = bytes(range(256)) * (64 * 1024)  # 16 MiB: more than loopback socket buffers hold
    call_id, _ = await with_recording(store, recordings, huge)
    api = mounted(create_api_app(store, api_token=None, recordings_dir=recordings))
    async with serve_asgi(api) as server:
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            async with http.stream("GET", f"/api/calls/{call_id}/recording.wav") as response:
                first = await anext(response.aiter_raw())
                assert huge.startswith(first)
        # The server must still answer (and, under filterwarnings=error, must not leak the file handle).
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            assert (await http.get(f"/api/calls/{call_id}")).status_code == 200


async def test_recording_404s(store: ArchiveStore, recordings: Path, tmp_path: Path, http: httpx.AsyncClient) -> None:
    no_recording = await add_call(store, 0)
    assert_error(await http.get(f"/api/calls/{no_recording}/recording.wav"), 404, "no_recording")
    gone, path = await with_recording(store, recordings)
    path.unlink()
    assert_error(await http.get(f"/api/calls/{gone}/recording.wav"), 404, "no_recording")
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"not yours")
    elsewhere = await add_call(store, 1)
    await store.update_call(elsewhere, recording_path=str(recordings / ".." / "secret.wav"))
    assert_error(await http.get(f"/api/calls/{elsewhere}/recording.wav"), 404, "no_recording")
    folder = await add_call(store, 2)
    await store.update_call(folder, recording_path=str(recordings))
    assert_error(await http.get(f"/api/calls/{folder}/recording.wav"), 404, "no_recording")


async def test_delete_removes_the_call_and_its_file(
    store: ArchiveStore, recordings: Path, http: httpx.AsyncClient
) -> None:
    call_id, path = await with_recording(store, recordings)
    other = await add_call(store, 1)
    await store.add_events(call_id, [CallEvent(0, 0, "session")])
    response = await http.delete(f"/api/calls/{call_id}")
    assert response.status_code == 204 and response.content == b""
    assert not path.exists()
    assert_error(await http.get(f"/api/calls/{call_id}"), 404, "not_found")
    assert_error(await http.delete(f"/api/calls/{call_id}"), 404, "not_found")
    assert (await http.delete(f"/api/calls/{other}")).status_code == 204  # no recording to remove


# ---- failures and extensions ----


async def test_unreachable_database_is_503(recordings: Path) -> None:
    store = ArchiveStore(create_engine("postgresql://postgres@127.0.0.1:1/nothing"), sqlite_fts=False)
    try:
        async with client_for(store, recordings) as http:
            assert_error(await http.get("/api/calls"), 503, "archive_unavailable")
            assert_error(await http.get("/api/calls/x/transcript"), 503, "archive_unavailable")
    finally:
        await store.close()


async def _job_count(request: Request) -> Response:
    store = archive_store(request)
    jobs, _ = await store.list_jobs()
    if request.query_params.get("fail") == "teapot":
        raise ApiError(418, "teapot", "short and stout")
    if request.query_params.get("fail") == "bug":
        raise RuntimeError("a bug in an extension")
    return JsonResponse({"count": len(jobs)})


JOB_COUNT = Endpoint(
    "GET",
    "/jobs/count",
    _job_count,
    {
        "operationId": "countJobs",
        "summary": "How many jobs",
        "responses": {"200": json_response("The count", ref("JobCount")), **error_responses(503)},
    },
)


async def test_extra_routes_share_auth_errors_and_the_document(
    store: ArchiveStore, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    schemas = {"JobCount": {"type": "object", "properties": {"count": {"type": "integer"}}}}
    async with client_for(store, recordings, token="t", extra_routes=[JOB_COUNT], extra_schemas=schemas) as http:
        auth = {"Authorization": "Bearer t"}
        assert_error(await http.get("/api/jobs/count"), 401, "unauthorized")
        assert (await http.get("/api/jobs/count", headers=auth)).json() == {"count": 0}
        assert_error(await http.get("/api/jobs/count", params={"fail": "teapot"}, headers=auth), 418, "teapot")
        with caplog.at_level(logging.ERROR, logger="bridge.archive.api"):
            bug = await http.get("/api/jobs/count", params={"fail": "bug"}, headers=auth)
        assert_error(bug, 500, "internal_error")
        assert "a bug in an extension" not in bug.text  # details go to the log, not the client
        assert any(r.exc_info and "a bug in an extension" in str(r.exc_info[1]) for r in caplog.records)
        doc = (await http.get("/api/openapi.json", headers=auth)).json()
    assert doc["paths"]["/jobs/count"]["get"]["operationId"] == "countJobs"
    assert doc["components"]["schemas"]["JobCount"] == schemas["JobCount"]
    assert doc["servers"] == [{"url": "/api"}]


async def test_extensions_cannot_shadow_routes_or_schemas(store: ArchiveStore, recordings: Path) -> None:
    clash = Endpoint("GET", "/calls", _job_count, JOB_COUNT.operation)
    with pytest.raises(ValueError, match="already registered"):
        create_api_app(store, api_token="t", recordings_dir=recordings, extra_routes=[clash])
    with pytest.raises(ValueError, match="Call"):
        create_api_app(store, api_token="t", recordings_dir=recordings, extra_schemas={"Call": {}})
