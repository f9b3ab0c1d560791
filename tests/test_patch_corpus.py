"""Every case of tests/patch_corpus/: the expected file, or a refusal that says why.

A case is a directory with `original.py`, `patch.diff` (as a model might write it)
and either `expected.py` or `refused.txt` (a text the error must contain). Files are
read as bytes, so CRLF cases keep their line endings. See the corpus README.
"""

import ast
from pathlib import Path

import pytest

from agents_app.patching.apply import apply_patch

CORPUS = Path(__file__).parent / "patch_corpus"
CASES = sorted(p for p in CORPUS.iterdir() if (p / "original.py").exists())


def read(path: Path) -> str:
    # "surrogatepass": a case may hold a lone surrogate as its three UTF-8-style bytes
    # (what a model's JSON escape `\\ud83d` becomes), which strict UTF-8 cannot read.
    return path.read_bytes().decode("utf-8", "surrogatepass")


def test_the_corpus_is_large_and_well_formed() -> None:
    refusals = [case for case in CASES if (case / "refused.txt").exists()]
    v4a = [case for case in CASES if "*** Begin Patch" in read(case / "patch.diff")]
    assert len(CASES) >= 170
    assert len(refusals) >= 45
    assert len(v4a) >= 30
    for case in CASES:
        assert (case / "original.py").exists() and (case / "patch.diff").exists(), case.name
        assert (case / "expected.py").exists() != (case / "refused.txt").exists(), case.name
        if (case / "expected.py").exists():
            ast.parse(read(case / "expected.py").removeprefix("\ufeff"))
            assert read(case / "expected.py") != read(case / "original.py"), case.name


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(case: Path) -> None:
    result = apply_patch(read(case / "original.py"), read(case / "patch.diff"), "agents.py")

    if (case / "expected.py").exists():
        assert result.error is None
        assert result.ok
        assert result.code == read(case / "expected.py"), "applied, but not as expected"
    else:
        assert not result.ok, f"applied where a refusal was expected:\n{result.code}"
        assert result.code is None
        assert read(case / "refused.txt").strip() in (result.error or "")


HELDOUT = sorted(p for p in (CORPUS / "heldout").iterdir() if (p / "original.py").exists())


def test_the_held_out_split_is_never_applied_wrongly_and_mostly_right() -> None:
    """The held-out cases (written before the applier was changed for their kinds, see
    the corpus README): no wrong application, and at least 95 % handled as expected."""
    right, wrong = [], []
    for case in HELDOUT:
        result = apply_patch(read(case / "original.py"), read(case / "patch.diff"), "agents.py")
        if (case / "expected.py").exists():
            if result.ok and result.code != read(case / "expected.py"):
                wrong.append(case.name)
            elif result.ok:
                right.append(case.name)
        elif result.ok:
            wrong.append(case.name)
        elif read(case / "refused.txt").strip() in (result.error or ""):
            right.append(case.name)
    assert len(HELDOUT) >= 60
    assert wrong == []
    assert len(right) >= 0.95 * len(HELDOUT)
