"""indented_json writes what json.dumps(indent=2, ensure_ascii=False) writes, byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.canonical import indented_json

_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False)
    | st.text()
)
_JSON = st.recursive(
    _SCALAR, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=40
)


def _stdlib(obj: Any, sort_keys: bool) -> str:
    return json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(_JSON, st.booleans())
def test_indented_json_matches_the_stdlib_on_any_json_value(obj: Any, sort_keys: bool) -> None:
    assert indented_json(obj, sort_keys=sort_keys) == _stdlib(obj, sort_keys)


@pytest.mark.parametrize(
    "obj",
    [
        [1e-07, 1e-05, 2.5e-09, -3e-06, 0.0001, 1e-10, 1e16, 1.5e300, 5e-324, -0.0, 600.0],
        {"big": 2**64, "bigger": -(2**100), "u64": 2**64 - 1, "i64": -(2**63)},
        {"controls": "".join(map(chr, range(0x20))) + "\x7f\u2028\ufeff", "é": "☃ 😀"},
        {"": {}, "a": [], "b": [{}, []], "z": {"y": {"x": []}}},
        {"lone": "\ud800"},  # orjson refuses a lone surrogate; the stdlib writes it
        {2: "non-string keys", 1: "sorted as numbers"},
        {"in a string": "0.00001 and 5e-7 are text here"},
    ],
)
@pytest.mark.parametrize("sort_keys", [True, False])
def test_indented_json_matches_the_stdlib_where_orjson_differs(obj: Any, sort_keys: bool) -> None:
    assert indented_json(obj, sort_keys=sort_keys) == _stdlib(obj, sort_keys)
