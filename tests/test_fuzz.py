"""No internal error for any input: mutated RT files (hypothesis) end in exit 0, 1 or 2 with a message.

"Internal error" is for bugs in sbrt-qa, never for a file's content. Each example runs
``check`` in-process on a small plan with one file mutated (truncation, bit flip, deleted,
repeated or absurd attribute) within a deadline; the process's peak memory is bounded.
``SBRT_QA_FUZZ_EXAMPLES`` sets the number of examples (default 40, kept modest for CI).
"""

from __future__ import annotations

import os
import resource
import shutil
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="could not import hypothesis (dev extra)")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from sbrt_qa.cli.main import main  # noqa: E402
from sbrt_qa.synthetic.mutations import ABSURD, ATTRIBUTES, FILES, Mutation, apply, fresh_copy, small_plan  # noqa: E402

EXAMPLES = int(os.environ.get("SBRT_QA_FUZZ_EXAMPLES", "40"))
#: Peak resident memory the test process may reach (the plan is 51 000 voxels; numba and the suite take ~0.5 GB).
PEAK_RSS_MB = 2500


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "base"
    small_plan(folder)
    return folder


@st.composite
def mutations(draw) -> Mutation:
    file = draw(st.sampled_from(FILES))
    kind = draw(st.sampled_from(("truncate", "bitflip", "delete", "repeat", "absurd")))
    return Mutation(file, kind, draw(st.floats(0.0, 1.0)), draw(st.integers(0, 7)), draw(st.sampled_from(ATTRIBUTES[file])),
                    draw(st.sampled_from([v for v, _ in ABSURD])))


@settings(max_examples=EXAMPLES, deadline=30_000, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                                            HealthCheck.too_slow])
@given(mutation=mutations())
def test_any_mutated_plan_ends_in_a_verdict_or_a_clear_error(base, tmp_path, capsys, mutation):
    folder = tmp_path / "case"
    apply(mutation, fresh_copy(base, folder))
    code = main(["check", str(folder), "--format", "json"])
    out, err = capsys.readouterr()
    assert "internal error" not in err, (mutation.describe(), err)
    assert code in (0, 1, 2), (mutation.describe(), code)
    if code == 2:
        assert err.startswith("sbrt-qa: error: ") and len(err.strip()) > len("sbrt-qa: error: "), (mutation.describe(), err)
    else:
        assert out.lstrip().startswith("{"), mutation.describe()
    if mutation.must_fail:
        assert code != 0, (mutation.describe(), "a plan broken by construction was judged acceptable")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 < PEAK_RSS_MB
    shutil.rmtree(folder, ignore_errors=True)


def test_the_base_plan_is_acceptable(base, capsys):
    """The unmutated plan passes (MINOR: R100% 1.3), so a mutant judged acceptable stands out."""
    assert main(["check", str(base), "--format", "json"]) == 0
    capsys.readouterr()
