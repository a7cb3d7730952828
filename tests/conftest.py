"""Shared test fixtures: where the shared reference files live."""

from __future__ import annotations

from pathlib import Path

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
