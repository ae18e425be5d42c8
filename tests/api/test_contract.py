"""The OpenAPI contract: schemathesis drives every operation of the real app in-process.

No request it generates (valid or not) may get a 5xx or a response the schema
does not document (status, content type, body schema, headers). The other
tests here check what the schema itself promises: examples everywhere, every
problem type documented in docs/API.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.result import Ok

from natoqa.api.problems import PROBLEM_TYPES
from tests.api.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(qa_service: Any) -> Any:
    # No rate limit: hundreds of generated requests would mostly meet a 429. A body-size
    # limit above any generated body: a huge invalid body must meet the schema's 422.
    return make_app(qa_service, rate_limit="off", max_body_bytes=64 * 1024 * 1024)


MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# Not checked: that every schema-valid request is accepted. Some rules are beyond JSON
# Schema ("the last message is the user's", a known model name answers 404 otherwise)
# and are refused with a documented 4xx, which the remaining checks do verify.


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES, ids=str)
def test_no_server_errors_and_no_undocumented_responses(app: Any, mode: GenerationMode) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    results = list(api.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 7
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any) -> None:
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            assert response.headers.get("x-request-id")

        try:
            check()
        except Unsatisfiable:
            # an operation without parameters or body has no invalid request to make
            assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.slow
def test_every_operation_has_examples(app: Any) -> None:
    spec = app.openapi()
    components = spec["components"]["schemas"]

    def resolve(s: dict[str, Any]) -> dict[str, Any]:
        ref = s.get("$ref")
        return components[ref.rsplit("/", 1)[1]] if ref else s

    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            success = next(s for s in op["responses"] if s.startswith("2"))  # 200, or 202
            ok = op["responses"][success].get("content", {})
            has_response_example = any(
                "example" in c or "examples" in resolve(c.get("schema", {})) for c in ok.values()
            )
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            has_request_example = body is None or "examples" in resolve(body["schema"])
            if not (has_response_example and has_request_example):
                missing.append(f"{method.upper()} {path}")
    assert missing == []


@pytest.mark.slow
def test_errors_are_documented_as_problem_json(app: Any) -> None:
    spec = app.openapi()
    for path, ops in spec["paths"].items():
        if not path.startswith(("/api/", "/v1/")):
            continue  # probes and metrics answer in their own formats
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (
                        f"{method} {path} {status}"
                    )


def test_every_problem_type_is_documented() -> None:
    doc = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    for slug, kind in PROBLEM_TYPES.items():
        assert f"`{slug}`" in doc, slug
        assert f"| {kind.status} |" in doc or f"| {kind.status}" in doc
