"""Shared test fixtures: where the shared reference files live; comparing computed numbers with
stored ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_limits() -> Path:
    """``../shared/na64_limits`` (tests that need it skip when it is absent)."""
    path = SHARED / "na64_limits"
    if not path.is_dir():
        pytest.skip("../shared/na64_limits is not available")
    return path


#: Tolerances for golden numbers: floats computed here against floats stored in a file (numpy /
#: scipy
#: builds differ in the last digit, e.g. 177.77286953463351 against 177.7728695346335).
GOLDEN_REL = 1e-12
GOLDEN_ABS = 1e-15


def assert_json_close(
    actual: Any, expected: Any, *, rel: float = GOLDEN_REL, abs: float = GOLDEN_ABS, path: str = "$"
) -> None:
    """``actual == expected`` for JSON-like data, except that numbers agree within ``rel``
    (relative) or ``abs``.

    Same structure (dict keys, list lengths), equal strings, booleans and
    None; numbers (int or float alike, as in JSON) by ``math.isclose`` with
    the stated tolerances, NaN equal to NaN. A mismatch names its path.
    """
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {type(actual).__name__} instead of an object"
        assert sorted(actual) == sorted(expected), (
            f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        )
        for key in expected:
            assert_json_close(actual[key], expected[key], rel=rel, abs=abs, path=f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)), (
            f"{path}: {type(actual).__name__} instead of an array"
        )
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_json_close(a, e, rel=rel, abs=abs, path=f"{path}[{i}]")
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), (
            f"{path}: {actual!r} != {expected!r}"
        )
        if math.isnan(expected):
            assert math.isnan(actual), f"{path}: {actual!r} != nan"
        else:
            assert math.isclose(actual, expected, rel_tol=rel, abs_tol=abs), (
                f"{path}: {actual!r} != {expected!r} (rel {rel:g}, abs {abs:g})"
            )
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
