"""Control flow, sequences and optionals beyond what onnx's runner can compare."""
import warnings

import numpy as np
import pytest

import pyinfer


def _node_case(name):
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return next(t for t in load_model_tests(kind="node") if t.name == name)


def test_loop_building_a_sequence_from_an_optional_input():
    """test_loop16_seq_none: the runner itself cannot compare its 0-d sequence element."""
    case = _node_case("test_loop16_seq_none")
    inputs, expected = case.data_sets[0]
    (got,) = pyinfer.backend.prepare(case.model).run(inputs)
    (want,) = expected
    assert isinstance(got, list) and len(got) == len(want) == 6
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(got[-1], [1, 2, 3, 4, 5])


def test_scan8_respects_sequence_lens():
    import onnx
    from onnx import TensorProto, helper

    # body: state += x_t ; scan output = state
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]), helper.make_node("Identity", ["s_out"], ["y_t"])],
        "body",
        [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [2]), helper.make_tensor_value_info("x_t", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [2]), helper.make_tensor_value_info("y_t", TensorProto.FLOAT, [2])],
    )
    node = helper.make_node("Scan", ["lens", "s0", "x"], ["s", "y"], body=body, num_scan_inputs=1)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("lens", TensorProto.INT64, [2]),
         helper.make_tensor_value_info("s0", TensorProto.FLOAT, [2, 2]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 2])],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, None), helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)])
    model.ir_version = 4
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    s0 = np.zeros((2, 2), np.float32)
    s, y = pyinfer.InferenceSession(model).run(None, {"lens": np.array([3, 1]), "s0": s0, "x": x})
    np.testing.assert_array_equal(s, [x[0].sum(0), x[1, 0]])
    np.testing.assert_array_equal(y[0], np.cumsum(x[0], axis=0))
    np.testing.assert_array_equal(y[1], [x[1, 0], [0, 0], [0, 0]])  # past the length: zeros
    with pytest.raises(pyinfer.NodeExecutionError, match="sequence_lens"):
        pyinfer.InferenceSession(model).run(None, {"lens": np.array([4, 1]), "s0": s0, "x": x})
