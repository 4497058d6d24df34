"""Assertions shared by the API tests."""

import re

from chatrooms.errors import BAD_REQUEST_TYPE

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def vote_body(poll_id, poll_type: str, *option_ids) -> dict:
    """The body of `POST .../polls/{id}:vote` choosing these options."""
    return {
        "vote": {
            "poll": {
                "id": str(poll_id),
                "type": poll_type,
                "multi_choice": {"options": [{"id": str(option)} for option in option_ids]},
            }
        }
    }


def assert_status(response, http_status: int, grpc_code: int) -> dict:
    """The response is a google.rpc.Status with this HTTP status and gRPC code."""
    assert response.status_code == http_status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == grpc_code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], list)
    assert all("@type" in detail for detail in body["details"])
    return body


def field_violations(body: dict) -> dict[str, str]:
    for detail in body["details"]:
        if detail["@type"] == BAD_REQUEST_TYPE:
            return {v["field"]: v["description"] for v in detail["field_violations"]}
    return {}


def same_json_shape(actual, example, path="$", nullable=()) -> list[str]:
    """Differences in keys and JSON types between `actual` and the documented example.

    Lists are checked item by item against the example's first item.
    """
    problems = []
    if actual is None and path in nullable:
        return problems
    if isinstance(example, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        missing = set(example) - set(actual)
        problems += [f"{path}.{key}: missing" for key in sorted(missing)]
        for key in example:
            if key in actual:
                problems += same_json_shape(actual[key], example[key], f"{path}.{key}", nullable)
        return problems
    if isinstance(example, list):
        if not isinstance(actual, list):
            return [f"{path}: expected an array"]
        for index, item in enumerate(actual):
            problems += same_json_shape(item, example[0], f"{path}[{index}]", nullable)
        return problems
    expected_type = type(example)
    if expected_type is int:
        ok = isinstance(actual, int) and not isinstance(actual, bool)
    else:
        ok = isinstance(actual, expected_type)
    if not ok:
        problems.append(f"{path}: expected {expected_type.__name__}, got {actual!r}")
    return problems
