from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from bridge.archive.openapi import (
    Endpoint,
    OpenApiRegistry,
    error_responses,
    json_response,
    path_param,
    query_param,
    ref,
)


async def handler(request: Request) -> Response:
    return Response()


def operation(op_id: str) -> dict[str, object]:
    return {"operationId": op_id, "responses": {"200": json_response("ok", ref("Job"))}}


def test_extensions_add_paths_and_schemas_to_the_document() -> None:
    registry = OpenApiRegistry()
    registry.add_schemas({"Job": {"type": "object"}})
    registry.add_endpoint(
        Endpoint("GET", "/jobs/{job_id}", handler, {**operation("getJob"), "parameters": [path_param("job_id", "id")]})
    )
    registry.add_endpoint(
        Endpoint(
            "POST",
            "/jobs",
            handler,
            {**operation("createJob"), "parameters": [query_param("dry_run", "d", {"type": "boolean"})]},
        )
    )
    doc = registry.document(server_url="/api")
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "/api"}]
    assert set(doc["paths"]) == {"/jobs/{job_id}", "/jobs"}
    responses = doc["paths"]["/jobs"]["post"]["responses"]
    # authentication and the error handler apply to every route, so every operation documents them
    assert {"200", "401", "403", "500"} <= set(responses)
    assert doc["components"]["schemas"]["Job"] == {"type": "object"}
    assert "Call" in doc["components"]["schemas"]


def test_duplicates_and_converters_are_refused() -> None:
    registry = OpenApiRegistry()
    with pytest.raises(ValueError, match="Call"):
        registry.add_schemas({"Call": {}})
    registry.add_endpoint(Endpoint("GET", "/jobs", handler, operation("a")))
    with pytest.raises(ValueError, match="already registered"):
        registry.add_endpoint(Endpoint("GET", "/jobs", handler, operation("b")))
    with pytest.raises(ValueError, match="method must be"):
        registry.add_endpoint(Endpoint("get", "/other", handler, operation("d")))
    with pytest.raises(ValueError, match="converters"):
        registry.add_endpoint(Endpoint("GET", "/jobs/{job_id:int}", handler, operation("c")))


def test_error_responses_refer_to_shared_components() -> None:
    assert error_responses(404, 416) == {
        "404": {"$ref": "#/components/responses/NotFound"},
        "416": {"$ref": "#/components/responses/RangeNotSatisfiable"},
    }
