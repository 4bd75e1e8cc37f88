"""The static memory plan: buffers alive at the same time never share bytes; the arena is at
most the sum of the buffers and at least the largest live set."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pyinfer.memory_plan import ALIGN, Buffer, align, plan_offsets


def _buffers(draw_list):
    return [Buffer(i, size, first, first + length) for i, (size, first, length) in enumerate(draw_list)]


buffer_lists = st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 40), st.integers(0, 15)),
                        min_size=0, max_size=40)


@settings(max_examples=300, deadline=None)
@given(buffer_lists)
def test_live_buffers_never_overlap(items):
    bufs = _buffers(items)
    plan = plan_offsets(bufs)
    for a in bufs:
        off_a = plan.offsets[a.key]
        assert off_a % ALIGN == 0 and off_a + a.size <= plan.arena_bytes
        for b in bufs:
            if a.key < b.key and a.first <= b.last and b.first <= a.last:
                off_b = plan.offsets[b.key]
                assert off_a + a.size <= off_b or off_b + b.size <= off_a, (a, b, off_a, off_b)
    assert plan.peak_live_bytes <= plan.arena_bytes <= plan.total_bytes


def test_chain_reuses_two_buffers():
    bufs = [Buffer(i, 1000, i, i + 1) for i in range(100)]
    plan = plan_offsets(bufs)
    assert plan.arena_bytes == 2 * align(1000)
    assert plan.total_bytes == 100 * align(1000)


def test_best_fit_picks_the_smallest_gap():
    # A (0..2, 4096) and B (0..2, 4096) stay; C (0..0, 512) between; D later fits C's hole.
    bufs = [Buffer("big", 4096, 0, 5), Buffer("small", 512, 0, 0), Buffer("gap", 1024, 0, 5),
            Buffer("late", 448, 2, 5)]
    plan = plan_offsets(bufs)
    assert plan.offsets["late"] == plan.offsets["small"]
    assert plan.arena_bytes == 4096 + 1024 + 512


def test_arena_plan_on_a_real_plan_keeps_values_apart(rng):
    """Every pair of arena values of a compiled plan that are alive together use disjoint bytes."""
    import pyinfer
    from support.runtime_graphs import conv_model

    sess = pyinfer.InferenceSession(conv_model(rng), executor="plan")
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    for _ in range(2):
        sess.run(None, {"x": x})
    (plan,) = sess._executor.cached_plans()
    assert plan.memory.arena_bytes <= plan.memory.total_bytes


def test_aligned_empty_starts_a_cache_line():
    """NumPy puts large arrays 16 bytes past a page; the arena must start a cache line so
    that every planned offset (a multiple of ALIGN) is one too."""
    from pyinfer.memory_plan import aligned_empty

    for nbytes in (1, 100, 4096, 10**6, 3 * 10**7 + 5):
        a = aligned_empty(nbytes)
        assert a.ctypes.data % ALIGN == 0
        assert a.nbytes == nbytes and a.dtype == np.uint8
        a[:] = 7  # the whole range is writable memory of its own
        assert int(a[-1]) == 7


def test_plan_arena_values_start_cache_lines(rng):
    """Every intermediate tensor of a compiled plan starts on a cache line (the SIMD kernels'
    loads and stores would straddle two lines otherwise)."""
    import pyinfer
    from support.runtime_graphs import conv_model

    sess = pyinfer.InferenceSession(conv_model(rng), executor="plan")
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    for _ in range(2):  # the plan is compiled on the second call with a signature
        sess.run(None, {"x": x})
    (plan,) = sess._executor.cached_plans()
    frame = plan._new_frame()
    assert frame.arena is not None and frame.arena.ctypes.data % ALIGN == 0
    assert all(off % ALIGN == 0 for off in plan.memory.offsets.values())
