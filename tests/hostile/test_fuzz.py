"""A bounded, seeded fuzz run: every mutated model / feed gives a result or a pyinfer.Error.

support/fuzz.py runs the cases in a worker process with a per-case timeout, so a crash or a
hang fails this test (with the replay command) instead of killing or stalling pytest. Longer runs:
tools/fuzz.py --seconds N. PYINFER_FUZZ_CASES overrides the case count (the sanitizer run uses
fewer: everything is slower under ASan).
"""
import os

from support import fuzz

CASES = int(os.environ.get("PYINFER_FUZZ_CASES", "60000"))


def test_seed_models_are_valid():
    import pyinfer

    for name, (m, feeds) in fuzz.seed_models().items():
        outs = pyinfer.InferenceSession(m).run(None, feeds)
        assert outs and all(o.size for o in outs), name


def test_cases_are_deterministic():
    seeds = fuzz.seed_models()
    for i in (0, 7, 123):
        assert fuzz.make_case(11, i, seeds)[0] == fuzz.make_case(11, i, seeds)[0]


def test_fuzz_bounded_run():
    result = fuzz.fuzz(seed=20260101, cases=CASES, timeout=60.0, log=lambda *a: None)
    assert result["executed"] == CASES
    assert result["failures"] == [], "\n".join(
        f"case {i}: {o}  (replay: tools/fuzz.py --seed 20260101 --replay {i})" for i, o in result["failures"])
    # the run must exercise more than the parser: some cases run to the end, some fail in the ops
    assert result["counts"].get("ok", 0) > CASES // 50
    assert result["counts"].get("error:NodeExecutionError", 0) > 0
