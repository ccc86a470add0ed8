"""The OpenAPI document: structurally valid 3.1, complete for the router, and true of real responses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from bridge.archive.api import create_api_app
from bridge.archive.records import CallEvent, ToolCall, TranscriptSegment
from bridge.archive.store import ArchiveStore
from tests.archive_fixtures import T0, add_call, archive_target_fixture, store_fixture  # noqa: F401

DOC_URI = "urn:bridge:archive-openapi"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# A minimal structural description of OpenAPI 3.1: the parts this API uses, checked strictly enough to
# catch a missing description, a parameter without a location or schema, or a response without a status.
_SCHEMA_OR_REF = {"type": ["object", "boolean"]}
OPENAPI_31 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {"title": {"type": "string"}, "version": {"type": "string"}},
        },
        "servers": {
            "type": "array",
            "items": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
        },
        "security": {"type": "array", "items": {"type": "object"}},
        "paths": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {
                "type": "object",
                "propertyNames": {"enum": sorted(METHODS | {"summary", "description", "parameters"})},
                "additionalProperties": {"$ref": "#/$defs/operation"},
            },
        },
        "components": {
            "type": "object",
            "properties": {
                "schemas": {"type": "object", "additionalProperties": _SCHEMA_OR_REF},
                "responses": {"type": "object", "additionalProperties": {"$ref": "#/$defs/response"}},
                "securitySchemes": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"enum": ["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"]}},
                    },
                },
            },
        },
    },
    "$defs": {
        "operation": {
            "type": "object",
            "required": ["responses", "operationId"],
            "properties": {
                "operationId": {"type": "string"},
                "summary": {"type": "string"},
                "parameters": {"type": "array", "items": {"$ref": "#/$defs/parameter"}},
                "responses": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": "^[1-5]\\d\\d$"},
                    "additionalProperties": {
                        "oneOf": [
                            {"$ref": "#/$defs/response"},
                            {"type": "object", "required": ["$ref"], "properties": {"$ref": {"type": "string"}}},
                        ]
                    },
                },
            },
        },
        "parameter": {
            "type": "object",
            "required": ["name", "in", "schema"],
            "properties": {
                "name": {"type": "string"},
                "in": {"enum": ["query", "header", "path", "cookie"]},
                "required": {"type": "boolean"},
                "description": {"type": "string"},
                "schema": _SCHEMA_OR_REF,
            },
            "if": {"properties": {"in": {"const": "path"}}},
            "then": {"required": ["required"], "properties": {"required": {"const": True}}},
        },
        "response": {
            "type": "object",
            "required": ["description"],
            "not": {"required": ["$ref"]},
            "properties": {
                "description": {"type": "string"},
                "headers": {"type": "object"},
                "content": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "properties": {"schema": _SCHEMA_OR_REF}},
                },
            },
        },
    },
}


@dataclass(frozen=True, slots=True)
class Api:
    app: Starlette  # the API app itself, as create_api_app made it
    client: httpx.AsyncClient  # authorized, talking to it mounted at /api
    recordings: Path


@pytest.fixture
async def api(store: ArchiveStore, tmp_path: Path) -> AsyncIterator[Api]:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    app = create_api_app(store, api_token="t", recordings_dir=recordings)
    root = Starlette(routes=[Mount("/api", app=app)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=root), base_url="http://bridge", headers={"Authorization": "Bearer t"}
    ) as client:
        yield Api(app, client, recordings)


async def fetch_document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def walk_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from walk_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_refs(value)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schemas_in(doc: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every JSON Schema in the document, with where it sits."""
    for name, schema in doc["components"]["schemas"].items():
        yield f"components/schemas/{name}", schema
    for name, response in doc["components"]["responses"].items():
        for media, content in response.get("content", {}).items():
            yield f"components/responses/{name}/{media}", content["schema"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                yield f"{method} {path} parameter {parameter['name']}", parameter["schema"]
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    yield f"{method} {path} {status} {media}", content["schema"]


async def test_document_is_structurally_valid_openapi_31(api: Api) -> None:
    doc = await fetch_document(api.client)
    jsonschema.Draft202012Validator.check_schema(OPENAPI_31)
    jsonschema.Draft202012Validator(OPENAPI_31).validate(doc)
    for where, schema in schemas_in(doc):
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise AssertionError(f"{where}: {exc.message}") from None
    for ref in walk_refs(doc):
        resolve(doc, ref)  # every reference points at something
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_every_route_and_method_is_documented(api: Api) -> None:
    doc = await fetch_document(api.client)
    assert doc["servers"] == [{"url": "/api"}]  # where it is mounted
    routed: set[tuple[str, str]] = set()
    for route in api.app.router.routes:
        assert isinstance(route, Route)
        assert route.methods is not None
        # Starlette adds HEAD to every GET route; HTTP defines it as GET without the body.
        methods = route.methods - {"HEAD"} if "GET" in route.methods else route.methods
        routed |= {(route.path, m.lower()) for m in methods}
    documented = {(path, method) for path, item in doc["paths"].items() for method in item if method in METHODS}
    assert routed == documented
    for path, item in doc["paths"].items():
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path
            assert {"401", "403", "500"} <= set(operation["responses"]), path


class ResponseChecker:
    """Validates real responses against the document's operation for that route, status and media type."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry: Registry[Any] = Registry().with_resource(
            DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
        )
        self.covered: set[tuple[str, str, str]] = set()

    def check(self, method: str, template: str, response: httpx.Response) -> None:
        operation = self.doc["paths"][template][method]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method} {template}: undocumented status {status}"
        location = ("paths", template, method, "responses", status)
        documented = operation["responses"][status]
        if "$ref" in documented:
            location = tuple(documented["$ref"][2:].split("/"))
            documented = resolve(self.doc, documented["$ref"])
        for name in documented.get("headers", {}):
            assert name.lower() in response.headers, f"{method} {template} {status}: missing header {name}"
        content = documented.get("content", {})
        if not content:
            assert response.content == b"", f"{method} {template} {status}: undocumented body"
        else:
            media = response.headers["content-type"].split(";")[0]
            assert media in content, f"{method} {template} {status}: undocumented media type {media}"
            if media == "application/json":
                ref = DOC_URI + pointer(*location, "content", media, "schema")
                validator = jsonschema.Draft202012Validator({"$ref": ref}, registry=self.registry)
                validator.validate(response.json())
        self.covered.add((method, template, status))


async def test_real_responses_match_the_document(store: ArchiveStore, api: Api) -> None:
    doc = await fetch_document(api.client)
    checker = ResponseChecker(doc)

    async def call(method: str, template: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await api.client.request(method.upper(), url, **kwargs)
        checker.check(method, template, response)
        return response

    full = await add_call(store, 0, from_number="+1555", dialplan="support", metadata={"k": [1]})
    bare = await add_call(store, 1)
    await store.finish_call(full, ended_at=T0, end_reason="caller_hangup", recording_bytes=8)
    await store.add_events(full, [CallEvent(0, 0, "session", {"model": "m"})])
    await store.add_transcript_segments(
        full,
        [
            TranscriptSegment(0, "caller", 0, 10, "hello"),
            TranscriptSegment(1, "agent", 10, 20, "hi there", heard_text="hi", cut=True, item_id="it"),
        ],
    )
    await store.add_tool_calls(full, [ToolCall("call_1", "t", {"a": 1}, "timeout", 5)])
    wav = api.recordings / f"{full}.wav"
    wav.write_bytes(b"RIFF....WAVE")
    await store.update_call(full, recording_path=str(wav))

    await call("get", "/calls", "/api/calls")
    await call("get", "/calls", "/api/calls", params={"limit": "1"})
    await call("get", "/calls", "/api/calls", params={"limit": "500"})
    for call_id in (full, bare):
        await call("get", "/calls/{call_id}", f"/api/calls/{call_id}")
        await call("get", "/calls/{call_id}/events", f"/api/calls/{call_id}/events")
        await call("get", "/calls/{call_id}/tool_calls", f"/api/calls/{call_id}/tool_calls")
        for fmt in ("json", "txt", "srt", "vtt"):
            await call("get", "/calls/{call_id}/transcript", f"/api/calls/{call_id}/transcript", params={"format": fmt})
    await call("get", "/calls/{call_id}/transcript", f"/api/calls/{full}/transcript", params={"format": "doc"})
    await call("get", "/calls/{call_id}/recording.wav", f"/api/calls/{full}/recording.wav")
    await call(
        "get", "/calls/{call_id}/recording.wav", f"/api/calls/{full}/recording.wav", headers={"Range": "bytes=0-3"}
    )
    await call(
        "get", "/calls/{call_id}/recording.wav", f"/api/calls/{full}/recording.wav", headers={"Range": "bytes=99-"}
    )
    await call("get", "/calls/{call_id}/recording.wav", f"/api/calls/{bare}/recording.wav")
    await call("get", "/calls/{call_id}", "/api/calls/bad.id")
    await call("get", "/calls/{call_id}", "/api/calls/missing")
    await call("get", "/calls/{call_id}", f"/api/calls/{full}", headers={"Authorization": "Bearer wrong"})
    await call("get", "/openapi.json", "/api/openapi.json")
    await call("delete", "/calls/{call_id}", "/api/calls/missing")
    await call("delete", "/calls/{call_id}", f"/api/calls/{full}")

    for path, item in doc["paths"].items():
        for method, operation in item.items():
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert any((method, path, s) in checker.covered for s in success), f"{method} {path} never answered 2xx"
    assert {
        ("get", "/calls", "400"),
        ("get", "/calls/{call_id}", "404"),
        ("get", "/calls/{call_id}", "401"),
    } <= checker.covered
    assert ("get", "/calls/{call_id}/recording.wav", "416") in checker.covered
