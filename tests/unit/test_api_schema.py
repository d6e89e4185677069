"""Property-based tests of the HTTP API against its own OpenAPI schema (schemathesis).

Requests generated from the schema, valid (positive) and invalid (negative), must never produce a
server error, and every response must match the status codes, content types and bodies the schema
declares. The endpoints that change the corpus are left out (test_api.py covers them on a copy).
The API serves the repository's corpus indexed with the stand-in embedder.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from assistant.interfaces.api import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
READ_ONLY = [
    ("POST", "/api/search"),
    ("POST", "/api/ask"),
    ("GET", "/api/clauses/{clause_id}"),
    ("GET", "/api/documents"),
    ("GET", "/healthz"),
]
CHANGING = [("POST", "/api/documents"), ("DELETE", "/api/documents/{doc_id}")]
WITH_BODY = {"/api/search", "/api/ask"}
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in READ_ONLY] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in READ_ONLY if p in WITH_BODY
]


@pytest.fixture(scope="module")
def api_schema(stub_settings, stub_retriever, tmp_path_factory: pytest.TempPathFactory):
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))  # not .hypothesis/ in the repository
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(stub_settings, retriever=stub_retriever))


def test_every_operation_is_covered(api_schema) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(READ_ONLY) | set(CHANGING)


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g}" for m, p, g in CASES])
def test_responses_conform_to_the_schema(api_schema, method: str, path: str, mode: GenerationMode) -> None:
    operation = api_schema[path][method]
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=15 if mode is GenerationMode.POSITIVE else 10,  # (the unit tier's time budget)
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        statuses.append(case.call_and_validate(checks=CHECKS).status_code)

    check()
    if mode is GenerationMode.NEGATIVE:
        assert set(statuses) <= {404, 422}, statuses  # invalid input is rejected, never served
    elif path != "/api/clauses/{clause_id}":
        assert 200 in statuses, statuses
