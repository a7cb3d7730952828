"""drop_branches: the main job's event files leave out the ECAL cells, event for event the same
otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from na64stat.core.errors import InputError
from na64stat.simulation.generate import simulate_data, simulate_mc


def test_dropped_branch_is_absent_and_the_rest_identical(tmp_path: Path) -> None:
    import uproot

    kept = simulate_mc(
        "na64e-invisible",
        tmp_path / "a",
        processes=["hadron"],
        n_events=2000,
        drop_branches=("ecal_cells",),
    )
    full = simulate_mc("na64e-invisible", tmp_path / "b", processes=["hadron"], n_events=2000)
    a = uproot.open(kept[0].path)["events"].arrays(library="np")
    b = uproot.open(full[0].path)["events"].arrays(library="np")
    assert set(b) - set(a) == {"ecal_cells"}
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)
    data = simulate_data(
        "na64e-invisible", tmp_path / "d", n_eot=2e6, drop_branches=("ecal_cells",)
    )
    assert "ecal_cells" not in set(uproot.open(data[0].path)["events"].keys())


@pytest.mark.parametrize("name", ["weight", "no_such_branch"])
def test_required_or_unknown_branches_cannot_be_dropped(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="cannot drop branch"):
        simulate_mc(
            "na64e-invisible", tmp_path, processes=["hadron"], n_events=100, drop_branches=(name,)
        )
