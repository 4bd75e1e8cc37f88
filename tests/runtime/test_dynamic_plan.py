"""Dynamic plans (dynamic_plan.py, _dynamic.pyx): one plan per shape class serves every shape.

Each model runs first with one shape (the Python path records it) and then with others, which
the class's dynamic plan serves; outputs are checked against NumPy or the Python path."""
import threading

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=[numpy_helper.from_array(v, k)
                                                                        for k, v in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _attention_model(rng, heads=2, dim=8):
    """Self-attention over x [B, S, D] with the shape arithmetic exporters write: the head split's
    target shape is computed from Shape(x), so nothing in the file fixes S."""
    wq = rng.standard_normal((dim, dim)).astype(np.float32) / 3
    wo = rng.standard_normal((dim, dim)).astype(np.float32) / 3
    bo = rng.standard_normal(dim).astype(np.float32)
    ints = {"i0": np.array([0], np.int64), "i1": np.array([1], np.int64),
            "heads": np.array([heads], np.int64), "hd": np.array([dim // heads], np.int64),
            "flat": np.array([0, 0, dim], np.int64)}
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"]),
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "i0"], ["b"], axis=0),
        helper.make_node("Gather", ["sh", "i1"], ["s"], axis=0),
        helper.make_node("Concat", ["b", "s", "heads", "hd"], ["split_shape"], axis=0),
        helper.make_node("Reshape", ["q", "split_shape"], ["q4"]),
        helper.make_node("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["q4"], ["kt"], perm=[0, 2, 3, 1]),
        helper.make_node("MatMul", ["qh", "kt"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "qh"], ["ctx"]),
        helper.make_node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["ctx_t", "flat"], ["merged"]),
        helper.make_node("MatMul", ["merged", "wo"], ["proj"]),
        helper.make_node("Add", ["proj", "bo"], ["y"]),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, ["B", "S", dim])],
                   [helper.make_tensor_value_info("y", F, None)],
                   [("wq", wq), ("wo", wo), ("bo", bo)] + list(ints.items()))

    def reference(x):
        b, s, _ = x.shape
        q = (x @ wq).reshape(b, s, heads, dim // heads).transpose(0, 2, 1, 3)
        scores = q @ q.transpose(0, 1, 3, 2)
        p = np.exp(scores - scores.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        ctx = (p @ q).transpose(0, 2, 1, 3).reshape(b, s, dim)
        return ctx @ wo + bo
    return model, reference


def test_attention_with_computed_shapes_serves_every_length(rng):
    model, reference = _attention_model(rng)
    sess = pyinfer.InferenceSession(model)
    for b, s in [(1, 5), (1, 9), (2, 3), (1, 9), (3, 16), (1, 1), (2, 40), (1, 5)]:
        x = rng.standard_normal((b, s, 8)).astype(np.float32)
        (y,) = sess.run(None, {"x": x})
        np.testing.assert_allclose(y, reference(x), rtol=1e-4, atol=1e-5)
    (plan,) = sess._executor.dynamic_plans()
    ops = [op.op_type for i, op in enumerate(plan.step_ops) if not plan.program.is_native(i)]
    assert ops == []  # Shape too: its kernel writes the dims, lowered again for each new shape


def _conv_model(rng, auto_pad):
    w1 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    b2 = rng.standard_normal(5).astype(np.float32)
    pad = {"auto_pad": auto_pad} if auto_pad != "NOTSET" else {"pads": [1, 1, 1, 1]}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], strides=[2, 2], **pad),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                              **({"auto_pad": auto_pad} if auto_pad != "NOTSET" else {})),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["y"], **pad)]
    return _model(nodes, [helper.make_tensor_value_info("x", F, ["N", 3, "H", "W"])],
                  [helper.make_tensor_value_info("y", F, None)], [("w1", w1), ("w2", w2), ("b2", b2)])


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"])
def test_convolutions_serve_every_image_size(rng, auto_pad):
    """Explicit pads: kernels reshaped in C++; SAME pads follow the input size, so those convs
    and pools are lowered again for each new size (a wrong reuse would shift the outputs)."""
    model = _conv_model(rng, auto_pad)
    py = pyinfer.InferenceSession(model, executor="python")
    sess = pyinfer.InferenceSession(model)
    for shape in [(1, 3, 20, 20), (1, 3, 21, 26), (2, 3, 23, 31), (1, 3, 20, 20), (1, 3, 32, 32), (2, 3, 23, 31)]:
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], py.run(None, {"x": x})[0], rtol=1e-4, atol=1e-4)
    (plan,) = sess._executor.dynamic_plans()
    assert plan.native_steps == len(plan.step_ops)


def test_outputs_belong_to_the_caller_and_the_arena_stops_growing(rng):
    model, reference = _attention_model(rng)
    sess = pyinfer.InferenceSession(model)
    lengths = [4, 30, 7, 30, 12, 3, 29, 30, 1]
    xs = [rng.standard_normal((2, s, 8)).astype(np.float32) for s in lengths]
    outs = [sess.run(None, {"x": x})[0] for x in xs]
    for x, y in zip(xs, outs):  # later calls did not write into earlier outputs
        np.testing.assert_allclose(y, reference(x), rtol=1e-4, atol=1e-5)
    (plan,) = sess._executor.dynamic_plans()
    arena = max(f.arena_bytes for f in plan._frames)
    spills = sum(f.spill_count for f in plan._frames)
    for x in xs * 3:
        sess.run(None, {"x": x})
    assert max(f.arena_bytes for f in plan._frames) == arena  # sized by the largest call already seen
    assert sum(f.spill_count for f in plan._frames) == spills  # and every call since fits in it
    assert 0 < arena < 4 * max(f.peak_bytes for f in plan._frames)


def test_concurrent_calls_with_different_shapes(rng):
    model, reference = _attention_model(rng)
    sess = pyinfer.InferenceSession(model)
    sess.run(None, {"x": rng.standard_normal((1, 4, 8)).astype(np.float32)})
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        try:
            for _ in range(20):
                x = r.standard_normal((int(r.integers(1, 3)), int(r.integers(1, 24)), 8)).astype(np.float32)
                np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(x), rtol=1e-4, atol=1e-5)
        except Exception as e:  # noqa: BLE001  (reported below, with the thread's seed)
            errors.append((seed, e))
    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_shapes_a_step_cannot_take_raise_the_ops_error(rng):
    """A computed Reshape target that does not fit, and a MatMul whose inner sizes stop matching,
    are reported by the op (naming the node), as the Python path does, and the session goes on."""
    nodes = [helper.make_node("Shape", ["a"], ["sh"]),
             helper.make_node("Reshape", ["b", "sh"], ["b2"], name="fit"),
             helper.make_node("MatMul", ["a", "b2"], ["y"], name="mm")]
    model = _model(nodes, [helper.make_tensor_value_info("a", F, ["M", "K"]),
                           helper.make_tensor_value_info("b", F, ["K2", "N"])],
                   [helper.make_tensor_value_info("y", F, None)])
    sess = pyinfer.InferenceSession(model)
    a, b = np.ones((3, 3), np.float32), np.ones((9, 1), np.float32)
    np.testing.assert_allclose(sess.run(None, {"a": a, "b": b})[0], np.full((3, 3), 3, np.float32))
    with pytest.raises(pyinfer.Error, match="fit"):
        sess.run(None, {"a": np.ones((2, 3), np.float32), "b": b})  # 9 elements into (2, 3)
    a2, b2 = np.ones((4, 4), np.float32), np.ones((16, 1), np.float32)
    np.testing.assert_allclose(sess.run(None, {"a": a2, "b": b2})[0], np.full((4, 4), 4, np.float32))
    assert sess._executor.dynamic_plans()


I64 = TensorProto.INT64


def _shape_value_model():
    """The position / mask arithmetic of a BERT export, from Shape(x) and a fed count n: Range
    to a computed limit, Expand to a computed shape, Slice with computed bounds, Tile with
    computed repeats, ConstantOfShape of a computed shape, TopK with a fed K. Each output's shape
    follows from input *values*, not input shapes."""
    ints = {"z": np.array(0, np.int64), "one": np.array(1, np.int64), "i1": np.array([1], np.int64),
            "i0": np.array([0], np.int64), "two": np.array([2], np.int64)}
    nodes = [
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "one"], ["s"], axis=0),                 # S, a scalar
        helper.make_node("Range", ["z", "s", "one"], ["pos"]),                     # [S]
        helper.make_node("Unsqueeze", ["pos", "i0"], ["pos2"]),                    # [1, S]
        helper.make_node("Expand", ["pos2", "sh"], ["pos_b"]),                     # [B, S]
        helper.make_node("Slice", ["x", "i0", "n", "i1"], ["head"]),               # x[:, :n]
        helper.make_node("Concat", ["n", "two"], ["reps"], axis=0),
        helper.make_node("Tile", ["head", "reps"], ["tiled"]),                     # [B * n, 2 * ...]
        helper.make_node("Range", ["z", "m", "one"], ["count"]),                   # [m]: m fed
        helper.make_node("ConstantOfShape", ["sh"], ["fill"],
                         value=helper.make_tensor("v", F, [1], [1.5])),                # [B, S]
        helper.make_node("TopK", ["x", "n"], ["top", "top_at"], axis=1),           # [B, n]
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", F, ["B", "S"]),
                           helper.make_tensor_value_info("n", I64, [1]),
                           helper.make_tensor_value_info("m", I64, [])],
                   [helper.make_tensor_value_info("pos_b", I64, None), helper.make_tensor_value_info("tiled", F, None),
                    helper.make_tensor_value_info("count", I64, None), helper.make_tensor_value_info("fill", F, None),
                    helper.make_tensor_value_info("top", F, None), helper.make_tensor_value_info("top_at", I64, None)],
                   list(ints.items()))

    def reference(x, n, m):
        b, s = x.shape
        head = x[:, :int(n[0])]
        at = np.argsort(-x, axis=1, kind="stable")[:, :int(n[0])]
        return [np.broadcast_to(np.arange(s), (b, s)), np.tile(head, (int(n[0]), 2)), np.arange(int(m)),
                np.full((b, s), 1.5, np.float32), np.take_along_axis(x, at, 1), at]
    return model, reference


def test_ops_shaped_by_values_run_natively_for_every_value(rng, monkeypatch):
    """Range, Expand, Slice, Tile, ConstantOfShape and TopK with computed arguments run in the
    dynamic plan without op.run: their kernels take the argument values as control inputs and
    are prepared again for new values. m keeps its shape (a scalar) and changes its value: the
    kernel must follow the value, not only the shapes."""
    from pyinfer import executor

    model, reference = _shape_value_model()
    sess = pyinfer.InferenceSession(model)
    calls = []
    original = executor.call_op
    monkeypatch.setattr(executor, "call_op", lambda op, *a, **k: calls.append(op.op_type) or original(op, *a, **k))
    cases = [((2, 5), 3, 4), ((2, 5), 3, 4), ((1, 9), 2, 7), ((3, 4), 4, 0), ((1, 9), 1, 7), ((1, 9), 1, 2),
             ((2, 6), 6, 11), ((1, 9), 2, 7)]
    for step, (shape, n, m) in enumerate(cases):
        x = rng.standard_normal(shape).astype(np.float32)
        feeds = {"x": x, "n": np.array([n], np.int64), "m": np.array(m, np.int64)}
        got = sess.run(None, feeds)
        for g, want in zip(got, reference(x, feeds["n"], feeds["m"])):
            assert g.shape == want.shape
            np.testing.assert_array_equal(g, want)
        if step == 2:
            calls.clear()  # the first two calls ran the Python path (recording) and a static plan
    (plan,) = sess._executor.dynamic_plans()
    assert [op.op_type for i, op in enumerate(plan.step_ops) if not plan.program.is_native(i)] == []
    # op.run only where a kernel cannot take the shapes: the empty Range (m = 0)
    assert calls == ["Range"]


def test_control_input_values_give_the_reshaped_kernel(rng):
    """The kernel API underneath: reshape() of a kernel with control inputs needs their values."""
    from pyinfer import kernels

    k = kernels.prepare_expand([1, 3], "float32", [2, 3], [2], True)
    assert k.control_inputs == ["shape"]
    k2 = k.reshape([[1, 3], [3]], [[], [4, 1, 3]])
    assert k2.outputs[0][1] == (4, 1, 3)
    x = rng.standard_normal((1, 3)).astype(np.float32)
    y = k2(x, np.array([4, 1, 3], np.int64))
    np.testing.assert_array_equal(y, np.broadcast_to(x, (4, 1, 3)))
    with pytest.raises(pyinfer.Error, match="control inputs"):
        k.reshape([[1, 3], [2]])
    with pytest.raises(pyinfer.Error, match="shape"):
        k.reshape([[1, 3], [2]], [[], [5]])  # one value for a shape input of two
    r = kernels.prepare_range("int64", 4, [[], [], []])
    assert r.control_inputs == ["start", "limit", "delta"]
    assert r.reshape([[], [], []], [[2], [11], [3]]).outputs[0][1] == (3,)
    assert r.reshape([[], [], []], [[5], [1], [1]]).outputs[0][1] == (0,)


def test_control_values_asking_for_too_much_memory_are_refused(rng):
    """A fed count or shape may ask a control-input kernel for any size: the dynamic plan checks
    the output against the per-tensor limit before allocating (ResourceLimitError naming the
    node), and the session serves the next good call."""
    ints = {"z": np.array(0, np.int64), "one": np.array(1, np.int64)}
    nodes = [helper.make_node("Range", ["z", "m", "one"], ["count"], name="count_up"),
             helper.make_node("Expand", ["x", "s"], ["big"], name="grow")]
    model = _model(nodes, [helper.make_tensor_value_info("m", I64, []), helper.make_tensor_value_info("x", F, [1, 3]),
                           helper.make_tensor_value_info("s", I64, [2])],
                   [helper.make_tensor_value_info("count", I64, None), helper.make_tensor_value_info("big", F, None)],
                   list(ints.items()))
    opts = pyinfer.SessionOptions()
    opts.max_memory_bytes = 1 << 20
    sess = pyinfer.InferenceSession(model, opts)
    x = np.ones((1, 3), np.float32)

    def feeds(m, s):
        return {"m": np.array(m, np.int64), "x": x, "s": np.array(s, np.int64)}
    for m, s in [(3, [2, 3]), (3, [2, 3]), (4, [5, 3])]:
        count, big = sess.run(None, feeds(m, s))
        assert count.tolist() == list(range(m)) and big.shape == tuple(s)
    with pytest.raises(pyinfer.ResourceLimitError, match="count_up.*max_memory_bytes"):
        sess.run(None, feeds(10**9, [2, 3]))
    with pytest.raises(pyinfer.ResourceLimitError, match="grow.*max_memory_bytes"):
        sess.run(None, feeds(3, [10**6, 3]))
    count, big = sess.run(None, feeds(6, [7, 3]))
    assert count.tolist() == list(range(6)) and big.shape == (7, 3)
    assert sess._executor.dynamic_plans()


def _counted_model():
    """NonZero and NonMaxSuppression, whose output sizes follow the data, as graph outputs and
    feeding later nodes; and Range over int32 limits computed from a shape."""
    ints = {"axis_cols": np.array([1], np.int64), "max_per_class": np.array([5], np.int64),
            "iou": np.array([0.5], np.float32), "score": np.array([0.2], np.float32),
            "z32": np.array(0, np.int32), "one32": np.array(1, np.int32), "half": np.array(0.5, np.float32)}
    nodes = [
        helper.make_node("Greater", ["x", "half"], ["mask"]),
        helper.make_node("NonZero", ["mask"], ["where"]),                             # [2, count]: graph output
        helper.make_node("Gather", ["where", "axis_cols"], ["cols"], axis=0),          # [1, count]: read later
        helper.make_node("ReduceSum", ["cols"], ["col_sum"], keepdims=0),
        helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_per_class", "iou", "score"], ["sel"]),
        helper.make_node("Gather", ["sel", "two_col"], ["box_at"], axis=1),           # [selected]
        helper.make_node("Shape", ["box_at"], ["n_sel"]),
        helper.make_node("Cast", ["n_sel"], ["n_sel32"], to=TensorProto.INT32),
        helper.make_node("Squeeze", ["n_sel32"], ["lim"]),
        helper.make_node("Range", ["z32", "lim", "one32"], ["ramp"]),                  # int32 [selected]
    ]
    ints["two_col"] = np.array(2, np.int64)
    model = _model(nodes, [helper.make_tensor_value_info("x", F, ["R", "C"]),
                           helper.make_tensor_value_info("boxes", F, [1, "N", 4]),
                           helper.make_tensor_value_info("scores", F, [1, 2, "N"])],
                   [helper.make_tensor_value_info("where", I64, None), helper.make_tensor_value_info("col_sum", I64, None),
                    helper.make_tensor_value_info("sel", I64, None), helper.make_tensor_value_info("ramp", TensorProto.INT32, None)],
                   list(ints.items()))
    return model


def _counted_feeds(rng, rows, n_boxes, level):
    corner = rng.uniform(0, 10, (1, n_boxes, 2)).astype(np.float32)
    boxes = np.concatenate([corner, corner + rng.uniform(0.5, 3, (1, n_boxes, 2)).astype(np.float32)], axis=2)
    return {"x": (rng.uniform(0, 1, (rows, 4)) * level).astype(np.float32), "boxes": boxes,
            "scores": rng.uniform(0, 1, (1, 2, n_boxes)).astype(np.float32) * level}


def test_counted_outputs_follow_the_data_in_a_dynamic_plan(rng, monkeypatch):
    """NonZero and NonMaxSuppression run natively in the dynamic plan for every count (their
    kernels' outputs are bounded, the run reports the size found): graph outputs hold exactly
    the values found, later nodes read the counted shapes, counts of zero included; int32 Range
    limits are control inputs. Results equal onnxruntime's."""
    from pyinfer import executor

    ort = pytest.importorskip("onnxruntime")
    model = _counted_model()
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    sess = pyinfer.InferenceSession(model)
    calls = []
    original = executor.call_op
    monkeypatch.setattr(executor, "call_op", lambda op, *a, **k: calls.append(op.op_type) or original(op, *a, **k))
    cases = [(3, 20, 1.0), (3, 20, 1.0), (5, 31, 1.0), (2, 9, 0.3), (5, 31, 1.0), (7, 64, 1.0), (4, 12, 0.1),
             (5, 31, 1.0)]
    seen, empty_calls = set(), 0
    for step, (rows, n, level) in enumerate(cases):
        feeds = _counted_feeds(rng, rows, n, level)
        calls.clear()
        got = sess.run(None, feeds)
        for g, want in zip(got, ref.run(None, feeds)):
            assert g.shape == want.shape and g.dtype == want.dtype
            np.testing.assert_array_equal(g, want)
        counts = (got[0].shape[1], got[2].shape[0])
        seen.add(counts)
        if step >= 1:  # past the recording call: op.run only for the nodes an empty count reaches
            if 0 in counts:
                empty_calls += 1
            else:
                assert calls == []
    assert len(seen) >= 5 and empty_calls  # the counts did change, and reached zero
    (plan,) = sess._executor.dynamic_plans()
    assert [op.op_type for i, op in enumerate(plan.step_ops) if not plan.program.is_native(i)] == []


def test_counted_kernels_report_their_size(rng):
    """The kernel API: a counted kernel's output is the bound, filled compactly for the size the
    run writes to its count output."""
    from pyinfer import kernels

    x = (rng.uniform(0, 1, (3, 5)) > 0.6).astype(np.float32)
    k = kernels.prepare_nonzero_counted([3, 5], "float32")
    assert k.counted_outputs == {"y": (1, "count")}
    assert k.outputs[0][1] == (2, 15)
    y, count = k(x)
    n = int(count[0])
    np.testing.assert_array_equal(y.reshape(-1)[:2 * n].reshape(2, n), np.array(np.nonzero(x)))
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 1.1], [5, 5, 6, 6]]], np.float32)
    scores = np.array([[[0.9, 0.8, 0.7]]], np.float32)
    nms = kernels.prepare_non_max_suppression_counted([1, 3, 4], [1, 1, 3], False, [[1], [1], []],
                                                      [True, True, False], 2)
    assert nms.outputs[0][1] == (2, 3)  # 1 batch x 1 class x min(3 boxes, 2)
    sel, count = nms(boxes, scores, np.array([2], np.int64), np.array([0.5], np.float32), None)
    assert count.tolist() == [2] and sel.tolist() == [[0, 0, 0], [0, 0, 2]]
    again = nms.reshape([[1, 7, 4], [1, 1, 7], [1], [1], []])
    assert again.outputs[0][1] == (2, 3)


@pytest.mark.parametrize("mode,coord", [("linear", "half_pixel"), ("nearest", "asymmetric"),
                                        ("cubic", "align_corners")])
def test_resize_to_computed_sizes_and_scales_in_a_dynamic_plan(rng, monkeypatch, mode, coord):
    """Resize with sizes computed from another input's shape (a segmentation head upsampled to
    the image) and with scales computed from the data: value inputs of the dynamic plan, whose
    kernels follow their values (sizes equal to the input's shape: a copy) without op.run.
    Results equal onnx's reference evaluator's (onnxruntime differs from the spec for
    align_corners when the scale does not give the size exactly)."""
    from onnx.reference import ReferenceEvaluator

    from pyinfer import executor

    ints = {"hw_at": np.array([2, 3], np.int64), "nc": np.array([1, 3], np.int64), "two": np.array(2.0, np.float32),
            "ones": np.array([1.0, 1.0], np.float32), "empty": np.zeros(0, np.float32)}
    nodes = [
        helper.make_node("Shape", ["image"], ["ishape"]),
        helper.make_node("Gather", ["ishape", "hw_at"], ["hw"]),
        helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["up"], mode=mode, coordinate_transformation_mode=coord),
        helper.make_node("ReduceMax", ["factor"], ["f"], keepdims=0),                # a scale from the data
        helper.make_node("Mul", ["f", "two"], ["f2"]),
        helper.make_node("Unsqueeze", ["f2", "i0"], ["f2v"]),
        helper.make_node("Concat", ["ones", "f2v", "f2v"], ["scales"], axis=0),
        helper.make_node("Resize", ["x", "empty", "scales"], ["scaled"], mode=mode, coordinate_transformation_mode=coord),
    ]
    ints["i0"] = np.array([0], np.int64)
    model = _model(nodes, [helper.make_tensor_value_info("x", F, [1, 3, "h", "w"]),
                           helper.make_tensor_value_info("image", F, [1, 1, "H", "W"]),
                           helper.make_tensor_value_info("factor", F, [1])],
                   [helper.make_tensor_value_info("up", F, None), helper.make_tensor_value_info("scaled", F, None)],
                   list(ints.items()), opset=19)
    ref = ReferenceEvaluator(model)
    sess = pyinfer.InferenceSession(model)
    calls = []
    original = executor.call_op
    monkeypatch.setattr(executor, "call_op", lambda op, *a, **k: calls.append(op.op_type) or original(op, *a, **k))
    cases = [((4, 5), (9, 11), 1.0), ((4, 5), (9, 11), 1.0), ((6, 3), (13, 7), 0.75), ((4, 5), (4, 5), 0.5),
             ((6, 3), (13, 7), 0.75), ((5, 5), (20, 15), 1.5)]
    for step, (hw, image_hw, factor) in enumerate(cases):
        feeds = {"x": rng.standard_normal((1, 3) + hw).astype(np.float32),
                 "image": np.zeros((1, 1) + image_hw, np.float32), "factor": np.array([factor], np.float32)}
        calls.clear()
        got = sess.run(None, feeds)
        for g, want in zip(got, ref.run(None, feeds)):
            assert g.shape == want.shape
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-5)
        if step >= 2:
            assert calls == []
    (plan,) = sess._executor.dynamic_plans()
    assert [op.op_type for i, op in enumerate(plan.step_ops) if not plan.program.is_native(i)] == []
