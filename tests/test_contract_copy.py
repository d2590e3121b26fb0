"""The repository's copy of the data contract (docs/contract.md) is the one users are
promised in ../shared/CONTRACT.md, word for word: they change together, on purpose."""

from __future__ import annotations

from cx.config import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "CONTRACT.md"
COPY = PROJECT_ROOT / "docs" / "contract.md"


def test_contract_copy_in_step_with_shared() -> None:
    assert SHARED.is_file(), f"{SHARED} not found: the shared folder must sit beside the clone"
    assert COPY.read_text() == SHARED.read_text(), "docs/contract.md differs from ../shared/CONTRACT.md"
