"""Fuzz pyinfer with mutated models and feeds: every outcome must be a result or a pyinfer.Error.

Each case is made from a seed model (small, valid, built below) by mutating either its protobuf
bytes (bit flips, truncation, splicing, overwritten bytes) or its structure (nodes dropped,
duplicated or rewired, attributes set to extreme values, dims / dtypes changed, op types and
opsets swapped), and is then run with feeds that may have other shapes, dtypes or NaN / Inf.
A case is fully determined by (seed, index), so any failure can be replayed alone.

The cases run in a worker process (`python -m support.fuzz --worker`, with this process's
sys.path, so it imports the same pyinfer); the parent enforces a per-case timeout, so a crash
(signal) or a hang is caught and reported, and the worker restarted.

tests/hostile/test_fuzz.py runs a bounded seeded run; tools/fuzz.py is the command line (long
runs, replaying one case, saving the failing ones).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import select
import subprocess
import sys
import time
import traceback

from support.child_python import child_env

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # holds the support package

MAX_CONSECUTIVE_CRASHES = 20  # a worker that cannot run any case: stop instead of restarting forever

# Worker-side limits: keep a fuzz run from eating a shared machine (every size check in pyinfer
# uses this instead of half the physical memory).
FUZZ_MAX_MEMORY_BYTES = 256 << 20


# --- seed models ------------------------------------------------------------------------------

def seed_models():
    """name -> (ModelProto, feeds) for a few small valid models covering the common op families."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def vi(name, dims, elem=TensorProto.FLOAT):
        return helper.make_tensor_value_info(name, elem, dims)

    def mk(nodes, inputs, outputs, inits, opset=17):
        g = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

    n = helper.make_node
    models = {}
    models["convnet"] = (mk(
        [n("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], name="conv1"),
         n("Relu", ["c1"], ["r1"]),
         n("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
         n("Conv", ["p1", "w2"], ["c2"], kernel_shape=[3, 3], group=2, dilations=[1, 1], name="conv2"),
         n("AveragePool", ["c2"], ["p2"], kernel_shape=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1),
         n("BatchNormalization", ["p2", "s", "bb", "m", "v"], ["bn"], epsilon=1e-5),
         n("Flatten", ["bn"], ["f"], axis=1),
         n("Gemm", ["f", "wg", "bg"], ["g"], transB=1, alpha=1.0, beta=1.0),
         n("Softmax", ["g"], ["y"], axis=-1)],
        [vi("x", ["N", 2, 8, 8])], [vi("y", ["N", 5])],
        {"w1": f32(4, 2, 3, 3), "b1": f32(4), "w2": f32(4, 2, 3, 3), "s": f32(4), "bb": f32(4), "m": f32(4),
         "v": np.abs(f32(4)) + 0.5, "wg": f32(5, 16), "bg": f32(5)}),
        {"x": f32(2, 2, 8, 8)})
    models["shapes"] = (mk(
        [n("Reshape", ["x", "shape"], ["r"]),
         n("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
         n("Slice", ["t", "starts", "ends", "axes", "steps"], ["s"]),
         n("Concat", ["s", "s"], ["c"], axis=1),
         n("Gather", ["c", "idx"], ["g"], axis=2),
         n("Unsqueeze", ["g", "ax0"], ["u"]),
         n("Squeeze", ["u", "ax0"], ["q"]),
         n("Split", ["q"], ["sp1", "sp2"], axis=1),
         n("Shape", ["sp1"], ["shp"]),
         n("ConstantOfShape", ["shp"], ["zeros"]),
         n("Add", ["sp2", "zeros"], ["y"])],
        [vi("x", [2, 12])], [vi("y", None)],
        {"shape": np.array([2, 3, 4], np.int64), "starts": np.array([0], np.int64), "ends": np.array([3], np.int64),
         "axes": np.array([1], np.int64), "steps": np.array([1], np.int64), "idx": np.array([2, 0, -1], np.int64),
         "ax0": np.array([0], np.int64)}),
        {"x": f32(2, 12)})
    models["bombs"] = (mk(
        [n("Expand", ["x", "eshape"], ["e"]),
         n("Tile", ["e", "reps"], ["t"]),
         n("Pad", ["t", "pads"], ["p"], mode="reflect"),
         n("Resize", ["p", "", "scales"], ["r"], mode="linear"),
         n("Range", ["r0", "r1", "r2"], ["rng"]),
         n("Cast", ["rng"], ["rngf"], to=TensorProto.FLOAT),
         n("Mul", ["r", "rngf"], ["y"])],
        [vi("x", [1, 1, 2, 2])], [vi("y", None)],
        {"eshape": np.array([1, 2, 2, 2], np.int64), "reps": np.array([1, 1, 2, 1], np.int64),
         "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "scales": np.array([1, 1, 1.5, 2], np.float32),
         "r0": np.array(0, np.int64), "r1": np.array(8, np.int64), "r2": np.array(1, np.int64)}),
        {"x": f32(1, 1, 2, 2)})
    models["indexing"] = (mk(
        [n("GatherElements", ["x", "gi"], ["ge"], axis=1),
         n("ScatterElements", ["x", "si", "su"], ["se"], axis=0),
         n("ScatterND", ["se", "ni", "nu"], ["sn"]),
         n("GatherND", ["sn", "gn"], ["gnd"]),
         n("TopK", ["ge", "k"], ["tv", "ti"], axis=1),
         n("ReduceSum", ["tv"], ["rs"], keepdims=1),
         n("MatMul", ["x", "mm"], ["mmo"]),
         n("Where", ["cond", "mmo", "rs"], ["y"]),
         n("ArgMax", ["gnd"], ["am"], axis=0)],
        [vi("x", [3, 4]), vi("cond", [3, 1], TensorProto.BOOL)], [vi("y", None), vi("am", None, TensorProto.INT64)],
        {"gi": np.array([[0, 3], [1, 2], [2, -1]], np.int64), "si": np.array([[2, 1, 0, 1]], np.int64),
         "su": f32(1, 4), "ni": np.array([[1], [0]], np.int64), "nu": f32(2, 4),
         "gn": np.array([[0, 1], [2, 3]], np.int64), "k": np.array([2], np.int64), "mm": f32(4, 1)}),
        {"x": f32(3, 4), "cond": np.array([[True], [False], [True]])})
    models["misc"] = (mk(
        [n("LayerNormalization", ["x", "ls", "lb"], ["ln"], axis=-1, epsilon=1e-5),
         n("LSTM", ["ln", "lw", "lr"], ["ly", "lh"], hidden_size=3),
         n("Squeeze", ["ly", "one"], ["sq"]),
         n("ReduceMean", ["sq"], ["rm"], axes=[0], keepdims=0),
         n("Sigmoid", ["rm"], ["sg"]),
         n("Clip", ["sg", "lo", "hi"], ["y"])],
        [vi("x", ["T", 2, 4])], [vi("y", None)],
        {"ls": f32(4), "lb": f32(4), "lw": f32(1, 12, 4), "lr": f32(1, 12, 3), "one": np.array([1], np.int64),
         "lo": np.array(0.1, np.float32), "hi": np.array(0.9, np.float32)}, opset=17),
        {"x": f32(5, 2, 4)})
    return models


# --- mutations --------------------------------------------------------------------------------

EXTREME_INTS = [0, 1, -1, 2, 3, -2, 7, 2**31 - 1, -2**31, 2**62, -2**63, 2**63 - 1, 10**6, 10**12]
EXTREME_FLOATS = [0.0, -0.0, 1.0, -1.0, float("nan"), float("inf"), float("-inf"), 1e-38, 1e38, 1e6, 1e-7]
OP_TYPES = ["Relu", "Add", "Conv", "MaxPool", "Reshape", "Gather", "Concat", "Slice", "Transpose", "Resize", "Pad",
            "Expand", "Tile", "Gemm", "MatMul", "Softmax", "Split", "Squeeze", "Identity", "Cast", "TopK", "Range",
            "ConstantOfShape", "ScatterND", "GatherElements", "LSTM", "If", "Loop", "OneHot", "Einsum", "NonZero",
            "Col2Im", "DepthToSpace", "Unique", "CumSum", "ReduceMax", "LRN", "InstanceNormalization", "Where"]


def mutate_bytes(rnd: random.Random, data: bytes, other: bytes) -> bytes:
    b = bytearray(data)
    if not b:
        return bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 64)))
    kind = rnd.choice(["flip", "flip", "byte", "truncate", "splice", "insert", "dup"])
    if kind == "flip":
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
    elif kind == "byte":
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.choice([0, 0xFF, 0x7F, 0x80, rnd.randrange(256)])
    elif kind == "truncate":
        b = b[: rnd.randrange(len(b))]
    elif kind == "splice":
        cut, cut2 = rnd.randrange(len(b)), rnd.randrange(len(other))
        b = b[:cut] + other[cut2:]
    elif kind == "insert":
        i = rnd.randrange(len(b) + 1)
        b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
    else:
        i = rnd.randrange(len(b))
        j = min(len(b), i + rnd.randint(1, 64))
        b[i:i] = b[i:j]
    return bytes(b)


def mutate_structure(rnd: random.Random, m):
    import onnx
    from onnx import AttributeProto, TensorProto

    g = m.graph
    names = sorted({o for nd in g.node for o in nd.output} | {i.name for i in g.input} | {t.name for t in g.initializer})
    for _ in range(rnd.randint(1, 3)):
        kind = rnd.choice(["drop", "dup", "swap", "rewire", "attr", "attr", "attr", "dims", "dtype", "optype",
                           "opset", "rmattr", "inputdims", "initval", "outputs"])
        nodes = list(g.node)
        if kind == "drop" and nodes:
            del g.node[rnd.randrange(len(nodes))]
        elif kind == "dup" and nodes:
            g.node.append(nodes[rnd.randrange(len(nodes))])
        elif kind == "swap" and len(nodes) > 1:
            i, j = rnd.randrange(len(nodes)), rnd.randrange(len(nodes))
            a, b = onnx.NodeProto(), onnx.NodeProto()
            a.CopyFrom(nodes[i])
            b.CopyFrom(nodes[j])
            g.node[i].CopyFrom(b)
            g.node[j].CopyFrom(a)
        elif kind == "rewire" and nodes:
            nd = g.node[rnd.randrange(len(nodes))]
            if nd.input and rnd.random() < 0.8:
                nd.input[rnd.randrange(len(nd.input))] = rnd.choice(names + ["", "nowhere"])
            else:
                nd.input.append(rnd.choice(names))
        elif kind in ("attr", "rmattr") and nodes:
            nd = g.node[rnd.randrange(len(nodes))]
            if not nd.attribute:
                continue
            a = nd.attribute[rnd.randrange(len(nd.attribute))]
            if kind == "rmattr":
                nd.attribute.remove(a)
            elif a.type == AttributeProto.INT:
                a.i = rnd.choice(EXTREME_INTS)
            elif a.type == AttributeProto.INTS:
                vals = list(a.ints) or [1]
                if rnd.random() < 0.3:
                    vals = vals[: rnd.randrange(len(vals) + 1)] + [rnd.choice(EXTREME_INTS)] * rnd.randint(0, 2)
                else:
                    vals[rnd.randrange(len(vals))] = rnd.choice(EXTREME_INTS)
                a.ints[:] = vals
            elif a.type == AttributeProto.FLOAT:
                a.f = rnd.choice(EXTREME_FLOATS)
            elif a.type == AttributeProto.STRING:
                a.s = rnd.choice([b"", b"NOTSET", b"VALID", b"SAME_UPPER", b"\xff\xfe", b"nearest", b"cubic"])
            else:
                a.type = rnd.choice([AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.UNDEFINED, 99])
        elif kind == "dims" and g.initializer:
            t = g.initializer[rnd.randrange(len(g.initializer))]
            dims = list(t.dims) or [1]
            if rnd.random() < 0.5:
                dims[rnd.randrange(len(dims))] = rnd.choice(EXTREME_INTS)
            else:
                dims = dims[: rnd.randrange(len(dims) + 1)] + [rnd.choice([0, 1, 2, 3])] * rnd.randint(0, 2)
            t.dims[:] = dims
        elif kind == "dtype" and g.initializer:
            t = g.initializer[rnd.randrange(len(g.initializer))]
            t.data_type = rnd.choice([1, 2, 3, 6, 7, 9, 10, 11, 16, 0, 99, 8, 21])
        elif kind == "initval" and g.initializer:
            import numpy as np
            from onnx import numpy_helper

            t = g.initializer[rnd.randrange(len(g.initializer))]
            try:
                arr = numpy_helper.to_array(t).copy()
            except Exception:
                continue
            if arr.size:
                flat = arr.reshape(-1)
                for _ in range(rnd.randint(1, 3)):
                    i = rnd.randrange(flat.size)
                    if arr.dtype.kind in "iu":
                        flat[i] = np.array(rnd.choice(EXTREME_INTS)).astype(arr.dtype)
                    elif arr.dtype.kind == "f":
                        flat[i] = rnd.choice(EXTREME_FLOATS)
                t.CopyFrom(numpy_helper.from_array(arr, t.name))
        elif kind == "optype" and nodes:
            g.node[rnd.randrange(len(nodes))].op_type = rnd.choice(OP_TYPES)
        elif kind == "opset":
            m.opset_import[0].version = rnd.choice([1, 6, 7, 9, 11, 13, 18, 21, 25, 28, 99, 0, -1])
        elif kind == "inputdims" and g.input:
            vi = g.input[rnd.randrange(len(g.input))]
            tt = vi.type.tensor_type
            if rnd.random() < 0.5:
                tt.elem_type = rnd.choice([1, 6, 7, 10, 11, 0, 99])
            elif tt.shape.dim:
                tt.shape.dim[rnd.randrange(len(tt.shape.dim))].dim_value = rnd.choice(EXTREME_INTS)
        elif kind == "outputs":
            if g.output and rnd.random() < 0.5:
                g.output.append(g.output[rnd.randrange(len(g.output))])
            elif names:
                o = g.output.add()
                o.name = rnd.choice(names + ["ghost"])
    return m


def mutate_feeds(rnd: random.Random, feeds: dict) -> dict:
    import numpy as np

    out = {}
    for k, v in feeds.items():
        r = rnd.random()
        if r < 0.55:
            out[k] = v
        elif r < 0.7:  # another shape: same rank with other sizes, or another rank
            shape = list(v.shape)
            if shape and rnd.random() < 0.7:
                shape[rnd.randrange(len(shape))] = rnd.choice([0, 1, 2, 3, 7])
            else:
                shape = [rnd.choice([0, 1, 2, 3]) for _ in range(rnd.randint(0, 5))]
            out[k] = np.random.default_rng(rnd.randrange(2**32)).standard_normal(shape).astype(v.dtype)
        elif r < 0.8:
            out[k] = v.astype(rnd.choice([np.float64, np.float16, np.int64, np.int32, np.bool_, np.uint8]))
        elif r < 0.9 and v.dtype.kind == "f" and v.size:
            w = v.copy()
            flat = w.reshape(-1)
            for _ in range(rnd.randint(1, 3)):
                flat[rnd.randrange(flat.size)] = rnd.choice([np.nan, np.inf, -np.inf, 3e38])
            out[k] = w
        elif r < 0.95:
            out[k] = v.tolist() if rnd.random() < 0.5 else None
        # else: dropped (a missing feed)
    if rnd.random() < 0.05:
        out["unexpected"] = np.zeros(1, np.float32)
    return out


def make_case(seed: int, index: int, seeds: dict):
    """(model bytes, feeds) of case `index`; the same (seed, index) always gives the same case."""
    import onnx

    rnd = random.Random(f"{seed}:{index}")
    names = sorted(seeds)
    name = rnd.choice(names)
    model, feeds = seeds[name]
    if rnd.random() < 0.45:
        other = seeds[rnd.choice(names)][0].SerializeToString()
        data = model.SerializeToString()
        for _ in range(rnd.randint(1, 2)):
            data = mutate_bytes(rnd, data, other)
    else:
        m = onnx.ModelProto()
        m.CopyFrom(model)
        data = mutate_structure(rnd, m).SerializeToString()
    if rnd.random() < 0.5:
        feeds = mutate_feeds(rnd, feeds)
    return data, feeds


# --- running one case -------------------------------------------------------------------------

def run_case(data: bytes, feeds: dict) -> str:
    """'ok', 'error:<pyinfer class>', or 'bad:<type>: <message>' (a bug)."""
    import pyinfer

    try:
        sess = pyinfer.InferenceSession(data, num_threads=2)
        sess.run(None, feeds)
        return "ok"
    except pyinfer.Error as e:
        return f"error:{type(e).__name__}"
    except Exception as e:  # noqa: BLE001  (this is what the fuzzer hunts)
        return f"bad:{type(e).__name__}: {str(e)[:300]}"


def _setup_worker_limits():
    from pyinfer.limits import set_default_max_memory_bytes

    set_default_max_memory_bytes(FUZZ_MAX_MEMORY_BYTES)
    if "asan" not in os.environ.get("LD_PRELOAD", ""):
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
        except (ImportError, ValueError, OSError):
            pass


def worker_main(seed: int) -> None:
    """Read case indices from stdin, write one JSON line per case to stdout."""
    import warnings

    warnings.simplefilter("ignore")
    _setup_worker_limits()
    seeds = seed_models()
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write into the result channel
    for line in sys.stdin:
        index = int(line)
        data, feeds = make_case(seed, index, seeds)
        outcome = run_case(data, feeds)
        out.write(json.dumps({"index": index, "outcome": outcome}) + "\n")
        out.flush()


# --- the driver -------------------------------------------------------------------------------

class Worker:
    def __init__(self, seed: int):
        # The worker imports what this process imports (the checkout's pyinfer or the installed
        # one); its working directory is tests/, never the checkout root, which could shadow it.
        env = child_env()
        self.proc = subprocess.Popen([sys.executable, "-m", "support.fuzz", "--worker", "--seed", str(seed)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, cwd=TESTS)
        self.buf = b""

    def run(self, index: int, timeout: float):
        """The outcome string, or 'crash:<signal/rc>' / 'hang' (the worker is then dead)."""
        try:
            self.proc.stdin.write(f"{index}\n".encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return f"crash:rc={self.proc.wait()}"
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return "hang"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return f"crash:rc={self.proc.wait()}"
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)["outcome"]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


def fuzz(seed: int, cases: int | None = None, seconds: float | None = None, timeout: float = 20.0,
         save_dir: str | None = None, log=print) -> dict:
    """Run cases 0, 1, 2... until `cases` or `seconds`; returns counts and the failing cases."""
    start = time.monotonic()
    worker = Worker(seed)
    counts: dict[str, int] = {}
    failures = []
    index = 0
    consecutive_crashes = 0
    try:
        while (cases is None or index < cases) and (seconds is None or time.monotonic() - start < seconds):
            outcome = worker.run(index, timeout)
            key = outcome.split(":")[0] if not outcome.startswith("error:") else outcome
            counts[key] = counts.get(key, 0) + 1
            if outcome.split(":")[0] in ("bad", "crash", "hang"):
                failures.append((index, outcome))
                log(f"case {index}: {outcome}  (replay: tools/fuzz.py --seed {seed} --replay {index})")
                if save_dir:
                    _save_case(save_dir, seed, index, outcome)
                if outcome.startswith(("crash", "hang")):
                    worker = Worker(seed)
            consecutive_crashes = consecutive_crashes + 1 if outcome.startswith(("crash", "hang")) else 0
            index += 1
            if consecutive_crashes >= MAX_CONSECUTIVE_CRASHES:
                log(f"stopping: the worker died on {consecutive_crashes} cases in a row (can it import pyinfer?)")
                break
    finally:
        worker.close()
    return {"seed": seed, "executed": index, "seconds": round(time.monotonic() - start, 1), "counts": counts,
            "failures": failures}


def _save_case(save_dir: str, seed: int, index: int, outcome: str) -> None:
    import numpy as np

    os.makedirs(save_dir, exist_ok=True)
    data, feeds = make_case(seed, index, seed_models())
    base = os.path.join(save_dir, f"seed{seed}_case{index}")
    with open(base + ".onnx", "wb") as f:
        f.write(data)
    arrays = {k: v for k, v in feeds.items() if isinstance(v, np.ndarray)}
    np.savez(base + ".npz", **arrays)
    with open(base + ".txt", "w") as f:
        f.write(outcome + "\n")


def replay(seed: int, index: int) -> None:
    """Run case `index` in this process and print its outcome (with the traceback of a bug)."""
    import pyinfer

    data, feeds = make_case(seed, index, seed_models())
    print(f"case {index}: {len(data)} bytes, feeds { {k: getattr(v, 'shape', type(v).__name__) for k, v in feeds.items()} }")
    try:
        sess = pyinfer.InferenceSession(data)
        print("outputs:", [getattr(o, "shape", o) for o in sess.run(None, feeds)])
    except pyinfer.Error as e:
        print(f"pyinfer.{type(e).__name__}: {e}")
    except Exception:
        traceback.print_exc()


if __name__ == "__main__":  # the worker process Worker starts
    _args = argparse.ArgumentParser()
    _args.add_argument("--worker", action="store_true", required=True)
    _args.add_argument("--seed", type=int, required=True)
    worker_main(_args.parse_args().seed)
