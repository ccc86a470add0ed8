from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.engine.rest import RestLimits
from bridge.errors import UpstreamError
from tests.integration.engine_rest_peer import START, Peer, running_peer


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[Peer]:
    limits = RestLimits(file_bytes=4096, batch_input_bytes=100, part_bytes=64)
    async with running_peer(tmp_path, limits=limits) as running:
        yield running


async def test_file_lifecycle(peer: Peer) -> None:
    async with peer.client() as client:
        created = await client.upload_file(b"call transcript", "call-1.txt", "user_data")
        assert created.id.startswith("file-") and len(created.id) == 29
        assert (created.bytes, created.filename, created.purpose, created.status) == (
            15,
            "call-1.txt",
            "user_data",
            "processed",
        )
        assert (created.created_at, created.expires_at) == (int(START), None)
        assert (peer.data_dir / "files" / created.id).read_bytes() == b"call transcript"
        assert await client.retrieve_file(created.id) == created
        assert await client.file_content(created.id) == b"call transcript"
        assert [f.id for f in await client.list_files()] == [created.id]
        deleted = await client.delete_file(created.id)
        assert deleted.deleted and deleted.raw == {"id": created.id, "object": "file", "deleted": True}
        assert not (peer.data_dir / "files" / created.id).exists()
        for call in (client.retrieve_file, client.file_content, client.delete_file):
            with pytest.raises(UpstreamError) as caught:
                await call(created.id)
            assert caught.value.status == 404
            assert f"No such File object: {created.id}" in str(caught.value)


async def test_list_filters_orders_and_pages(peer: Peer) -> None:
    async with peer.client() as client:
        first = await client.upload_file(b"{}", "a.jsonl", "batch")
        second = await client.upload_file(b"x", "b.txt", "user_data")
        third = await client.upload_file(b"{}", "c.jsonl", "batch")
        assert [f.id for f in await client.list_files("batch")] == [third.id, first.id]
    async with peer.http() as http:
        asc = (await http.get("/files", params={"order": "asc", "limit": 2})).json()
        assert [row["id"] for row in asc["data"]] == [first.id, second.id]
        assert (asc["object"], asc["has_more"], asc["first_id"], asc["last_id"]) == ("list", True, first.id, second.id)
        rest = (await http.get("/files", params={"order": "asc", "limit": 2, "after": second.id})).json()
        assert [row["id"] for row in rest["data"]] == [third.id] and rest["has_more"] is False
        for params in ({"limit": 0}, {"limit": "ten"}, {"order": "up"}, {"after": "file-nope"}):
            response = await http.get("/files", params=params)
            assert response.status_code == 400, params


async def test_expiry_policies(peer: Peer) -> None:
    async with peer.client() as client:
        short = await client.upload_file(b"x", "a.txt", "user_data", expires_after_s=3600)
        batch = await client.upload_file(b"{}", "in.jsonl", "batch")
        assert short.expires_at == int(START) + 3600
        assert batch.expires_at == int(START) + 30 * 86400  # batch files default to 30 days
        peer.clock.advance(3600)
        with pytest.raises(UpstreamError) as caught:
            await client.retrieve_file(short.id)
        assert caught.value.status == 404
        assert [f.id for f in await client.list_files()] == [batch.id]
        assert not (peer.data_dir / "files" / short.id).exists()


UPLOAD_CASES: list[tuple[dict[str, str], dict[str, tuple[str, bytes]], str | None, int]] = [
    ({}, {"file": ("a.txt", b"x")}, "purpose", 400),
    ({"purpose": "batch"}, {"other": ("a.txt", b"x")}, "file", 400),
    ({"purpose": "fun"}, {"file": ("a.txt", b"x")}, "purpose", 400),
    ({"purpose": "batch"}, {"file": ("in.csv", b"x")}, "file", 400),
    ({"purpose": "batch"}, {"file": ("in.jsonl", b"x" * 101)}, "file", 400),
    (
        {"purpose": "user_data", "expires_after[anchor]": "created_at", "expires_after[seconds]": "60"},
        {"file": ("a.txt", b"x")},
        "expires_after.seconds",
        400,
    ),
    (
        {"purpose": "user_data", "expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"},
        {"file": ("a.txt", b"x")},
        "expires_after.anchor",
        400,
    ),
    ({"purpose": "user_data"}, {"file": ("a.txt", b"x" * 4097)}, None, 413),
]


async def test_upload_validation(peer: Peer) -> None:
    async with peer.http() as http:
        for data, files, param, status in UPLOAD_CASES:
            response = await http.post("/files", data=data, files=files)
            assert response.status_code == status, (data, files)
            error = response.json()["error"]
            assert error["param"] == param and set(error) == {"message", "type", "param", "code"}, (data, files)
        assert (await http.get("/files")).json()["data"] == []


async def test_a_body_too_large_for_the_limit_is_413(peer: Peer) -> None:
    async with peer.http() as http:
        response = await http.post("/files", data={"purpose": "user_data"}, files={"file": ("a.txt", b"x" * 2_000_000)})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "server_error"
    assert response.json()["error"]["message"].startswith(f"Maximum content size limit ({4096 + 1024 * 1024}) exceeded")


async def test_upload_in_three_parts_joins_them_in_part_ids_order(peer: Peer) -> None:
    chunks = [b"A" * 64, b"B" * 64, b"C" * 10]
    async with peer.client() as client:
        upload = await client.create_upload(138, "calls.jsonl", "batch", "application/jsonl")
        assert upload.id.startswith("upload_") and upload.status == "pending"
        assert (upload.created_at, upload.expires_at) == (int(START), int(START) + 3600)
        # Sent out of order: the order of part_ids decides the file.
        third = await client.add_upload_part(upload.id, chunks[2])
        first = await client.add_upload_part(upload.id, chunks[0])
        second = await client.add_upload_part(upload.id, chunks[1])
        assert third.id.startswith("part_") and third.upload_id == upload.id
        digest = hashlib.md5(b"".join(chunks)).hexdigest()
        done = await client.complete_upload(upload.id, [first.id, second.id, third.id], md5=digest)
        assert done.status == "completed" and done.file is not None
        assert (done.file.bytes, done.file.filename, done.file.purpose) == (138, "calls.jsonl", "batch")
        assert await client.file_content(done.file.id) == b"".join(chunks)
        assert not (peer.data_dir / "uploads" / upload.id).exists()
        with pytest.raises(UpstreamError, match="already completed") as caught:
            await client.add_upload_part(upload.id, b"more")
        assert caught.value.status == 400


async def test_complete_checks_bytes_parts_and_md5(peer: Peer) -> None:
    async with peer.client() as client:
        upload = await client.create_upload(20, "a.bin", "user_data", "application/octet-stream")
        part = await client.add_upload_part(upload.id, b"x" * 10)
        other = await client.create_upload(5, "b.bin", "user_data", "application/octet-stream")
        foreign = await client.add_upload_part(other.id, b"y" * 5)
        attempts = [
            ([part.id], None, r"does not match the number of bytes expected \(20\)"),
            ([part.id, foreign.id], None, f"{foreign.id} is not a distinct part"),
            ([part.id, part.id], "0" * 32, "a repeated id"),
        ]
        for part_ids, md5, message in attempts:
            with pytest.raises(UpstreamError, match=message) as caught:
                await client.complete_upload(upload.id, part_ids, md5=md5)
            assert caught.value.status == 400
        second = await client.add_upload_part(upload.id, b"z" * 10)
        with pytest.raises(UpstreamError, match="md5"):
            await client.complete_upload(upload.id, [part.id, second.id], md5="0" * 32)
        with pytest.raises(UpstreamError, match="at most 64 bytes"):
            await client.add_upload_part(upload.id, b"w" * 65)
        assert (await client.complete_upload(upload.id, [part.id, second.id])).status == "completed"


async def test_cancel_and_expiry_end_an_upload(peer: Peer) -> None:
    async with peer.client() as client:
        upload = await client.create_upload(10, "a.bin", "user_data", "application/octet-stream")
        part = await client.add_upload_part(upload.id, b"x" * 10)
        cancelled = await client.cancel_upload(upload.id)
        assert cancelled.status == "cancelled" and cancelled.file is None
        with pytest.raises(UpstreamError, match="already cancelled"):
            await client.complete_upload(upload.id, [part.id])
        late = await client.create_upload(10, "b.bin", "user_data", "application/octet-stream")
        peer.clock.advance(3600)
        with pytest.raises(UpstreamError, match="already expired"):
            await client.add_upload_part(late.id, b"x")
        with pytest.raises(UpstreamError) as caught:
            await client.cancel_upload("upload_unknown")
        assert caught.value.status == 404


async def test_create_upload_validation(peer: Peer) -> None:
    base = {"bytes": 1, "filename": "a", "mime_type": "x", "purpose": "batch"}
    cases: list[tuple[dict[str, object], str]] = [
        ({k: v for k, v in base.items() if k != "bytes"}, "bytes"),
        ({**base, "bytes": 0}, "bytes"),
        ({**base, "bytes": 9 * 1024**3}, "bytes"),
        ({**base, "bytes": True}, "bytes"),
        ({**base, "filename": ""}, "filename"),
        ({**base, "purpose": "fun"}, "purpose"),
        ({**base, "expires_after": 5}, "expires_after"),
        ({**base, "expires_after": {"anchor": "created_at", "seconds": 10}}, "expires_after.seconds"),
    ]
    async with peer.http() as http:
        for body, param in cases:
            response = await http.post("/uploads", json=body)
            assert response.status_code == 400 and response.json()["error"]["param"] == param, body
