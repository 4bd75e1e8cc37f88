"""split_ml_elementwise: ai.onnx.ml Binarizer and Imputer become standard ops with kernels. The
results must be exactly the ops' own (compared with the unoptimized graph, and with the spec's
float64 comparison for Binarizer, which onnxruntime does not implement, or onnxruntime for
Imputer), bounds that float32 cannot hold and NaN included, and the compiled plan has no Python
step."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pyinfer
from support.opt_helpers import op_types, optimize_and_compare, vi

ML = "ai.onnx.ml"


def _ml_model(node, x_shape, elem=TensorProto.FLOAT):
    graph = helper.make_graph([node], "g", [vi("x", x_shape, elem)], [vi("y", None, elem)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 1)])


def _check(model, feeds, want_ops, want=None):
    import onnxruntime as ort

    opt, report, got = optimize_and_compare(model, feeds, rtol=0, atol=0)
    assert sorted(op_types(opt)) == sorted(want_ops) and report.pass_counts["split_ml_elementwise"] == 1
    if want is None:
        want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    np.testing.assert_array_equal(got[0], want)
    sess = pyinfer.InferenceSession(model)
    for _ in range(2):  # the second call runs the compiled plan
        np.testing.assert_array_equal(sess.run(None, feeds)[0], want)
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == len(plan.step_ops)


@pytest.mark.parametrize("threshold", [0.1, 0.5, -2.0, 1e-30])
def test_binarizer_on_float32_matches_the_spec(threshold):
    t32 = np.float32(threshold)
    near = [np.nextafter(t32, np.float32(-1)), t32, np.nextafter(t32, np.float32(1))]
    x = np.array([near + [0.0, -1.0, 3.0, np.nan, np.inf]], np.float32)
    node = helper.make_node("Binarizer", ["x"], ["y"], domain=ML, threshold=threshold)
    want = (x.astype(np.float64) > float(t32)).astype(np.float32)  # the attribute holds a float32
    _check(_ml_model(node, [1, x.shape[1]]), {"x": x}, ["Greater", "Cast"], want)


def test_binarizer_on_int64():
    x = np.array([[-3, 0, 1, 2, 5]], np.int64)
    node = helper.make_node("Binarizer", ["x"], ["y"], domain=ML, threshold=1.5)
    _check(_ml_model(node, [1, 5], TensorProto.INT64), {"x": x}, ["Greater", "Cast"], np.array([[0, 0, 0, 1, 1]]))


@pytest.mark.parametrize("replaced", [float("nan"), -1.0])
@pytest.mark.parametrize("fill", [[7.5], [1.0, 2.0, 3.0]])
def test_imputer_replaces_nan_or_a_value_per_column(replaced, fill):
    x = np.array([[np.nan, -1.0, 2.0], [4.0, np.nan, -1.0], [0.0, 5.0, 6.0]], np.float32)
    node = helper.make_node("Imputer", ["x"], ["y"], domain=ML, imputed_value_floats=fill,
                            replaced_value_float=replaced)
    tests = ["Equal", "Not"] if np.isnan(replaced) else ["Equal"]
    _check(_ml_model(node, ["N", 3]), {"x": x}, tests + ["Where"])
