"""Timing helpers shared by `pyinfer bench`, `pyinfer demo` and tools/bench.py.

The peers (onnxruntime, OpenVINO) are optional and only imported when a comparison asks for them.
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import onnx
from onnx import helper


# --- inputs ----------------------------------------------------------------------------------


def parse_dims(items) -> dict[str, int]:
    """["batch=4", "seq_len=64"] -> {"batch": 4, "seq_len": 64} (values for symbolic dimensions)."""
    dims = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"--dim expects NAME=POSITIVE_INT, got {item!r}")
        dims[name.strip()] = int(value)
    return dims


def resolve_shape(arg, dims: dict[str, int], default: int = 1) -> tuple[int, ...]:
    """A concrete shape for a NodeArg: symbolic or unknown dimensions come from `dims` or `default`."""
    if arg.shape is None:
        raise ValueError(f"input {arg.name!r} has no declared shape; cannot make a random input for it")
    out = []
    for d in arg.shape:
        if isinstance(d, int) and d > 0:
            out.append(d)
        else:
            out.append(dims.get(d, default) if isinstance(d, str) else default)
    return tuple(out)


_TYPE_STRINGS = {"float": np.float32, "double": np.float64, "float16": np.float16, "bool": np.bool_,
                 **{t: np.dtype(t).type for t in ("int8", "int16", "int32", "int64",
                                                   "uint8", "uint16", "uint32", "uint64")}}


def _np_dtype(arg):
    """The numpy dtype of a tensor input: from elem_type (pyinfer) or "tensor(float)" (onnxruntime)."""
    elem_type = getattr(arg, "elem_type", 0)
    if elem_type:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    t = arg.type or ""
    if t.startswith("tensor(") and t[7:-1] in _TYPE_STRINGS:
        return np.dtype(_TYPE_STRINGS[t[7:-1]])
    raise ValueError(f"input {arg.name!r} has type {t!r}; cannot make a random input for it")


def random_feeds(inputs, dims: dict[str, int] | None = None, seed: int = 0, int_high: int | dict = 100) -> dict:
    """Random arrays for every input (NodeArg-like: name, shape, elem_type).

    Floats are standard normal; integers are uniform in [0, int_high) (index-like inputs such as
    token ids need a bound the model accepts; a dict gives it per input name, 100 for the others);
    bools are fair coin flips.
    """
    rng = np.random.default_rng(seed)
    feeds = {}
    for arg in inputs:
        dtype = _np_dtype(arg)
        shape = resolve_shape(arg, dims or {})
        if dtype == np.bool_:
            value = rng.random(shape) < 0.5
        elif np.issubdtype(dtype, np.integer):
            high = int_high.get(arg.name, 100) if isinstance(int_high, dict) else int_high
            value = rng.integers(0, max(high, 1), shape).astype(dtype)
        elif np.issubdtype(dtype, np.floating):
            value = rng.standard_normal(shape).astype(dtype)
        else:
            raise ValueError(f"input {arg.name!r}: cannot make random {arg.type} values")
        feeds[arg.name] = value
    return feeds



def tile_batch(x: np.ndarray, batch: int) -> np.ndarray:
    """x's rows repeated along axis 0 up to `batch` rows (a recorded input at another batch size)."""
    reps = -(-batch // x.shape[0])
    return np.ascontiguousarray(np.concatenate([x] * reps, axis=0)[:batch])


# --- sessions --------------------------------------------------------------------------------


def have_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def ort_session(model, num_threads: int | None, spinning: bool = False):
    """An onnxruntime CPU session using `num_threads` intra-op threads and one inter-op thread.

    spinning=False turns off onnxruntime's default busy-waiting of idle intra-op threads: in an
    interleaved comparison they keep spinning on the cores while the other runtime is timed
    (pyinfer's workers sleep), which on a 2-core machine doubled pyinfer's 2-thread times.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if num_threads:
        opts.intra_op_num_threads = num_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def have_openvino() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_runner(model_path: str, num_threads: int | None, feeds: dict, output_names: list[str]):
    """A callable running `model_path` with OpenVINO on CPU; returns its outputs in `output_names` order.

    Forced to float32 (INFERENCE_PRECISION_HINT): on CPUs with AMX or AVX512-BF16 OpenVINO
    otherwise computes in bfloat16 silently, which is faster and ~2 significant digits less
    exact, so not the same job. One stream, `num_threads` inference threads, latency mode. Symbolic
    dimensions are fixed to the feeds' shapes before compiling (a static graph, as pyinfer and
    onnxruntime effectively get once they see the first input).
    """
    import openvino as ov

    core = ov.Core()
    model = core.read_model(model_path)
    model.reshape({name: ov.PartialShape(list(value.shape)) for name, value in feeds.items()})
    config = {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
    if num_threads:
        config["INFERENCE_NUM_THREADS"] = int(num_threads)
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    ports = []
    for name in output_names:
        port = next((o for o in compiled.outputs if name in o.get_names()), None)
        if port is None:
            raise ValueError(f"OpenVINO's compiled model has no output named {name!r}")
        ports.append(port)

    def run():
        result = request.infer(feeds)
        return [result[p] for p in ports]

    return run


# --- timing ----------------------------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self, total: int, label: str = "", width: int = 30, stream=None):
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.enabled:
            filled = int(self.width * self.done / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r{self.label}[{bar}] {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (len(self.label) + self.width + 24) + "\r")
            self.stream.flush()


def time_interleaved(runners: dict, repeats: int, warmup: int = 3, progress: ProgressBar | None = None) -> dict:
    """Seconds per call for each runner: warm-up calls, then `repeats` rounds calling each once.

    Interleaving makes slow drifts of the machine (other load, clock changes) hit every runner
    alike; the order inside a round alternates so that none always runs right after another.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    names = list(runners)
    for name in names:
        for _ in range(warmup):
            runners[name]()
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
        if progress is not None:
            progress.advance()
    return times


def summarize(seconds: list[float]) -> dict:
    """Milliseconds: median (the figure to quote), min, mean, and the spread between quartiles."""
    ms = sorted(s * 1e3 for s in seconds)
    q = statistics.quantiles(ms, n=4) if len(ms) >= 2 else [ms[0]] * 3
    return {"median_ms": statistics.median(ms), "min_ms": ms[0], "mean_ms": statistics.fmean(ms),
            "q1_ms": q[0], "q3_ms": q[2], "repeats": len(ms)}


def outputs_close(got: list, want: list, rtol: float = 1e-3, atol: float = 1e-4) -> bool:
    """Whether every output matches: |got - want| <= atol * max(1, max|want|) + rtol * |want|.

    atol scales with the output's magnitude: logits in the hundreds differ by more than 1e-4 in
    float32 between two correct runtimes that merely sum in another order.
    """
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape:
            return False
        scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
        if not np.all(np.abs(g - w) <= atol * scale + rtol * np.abs(w)):
            return False
    return True


def max_abs_diff(a: list, b: list) -> float:
    """The largest |a - b| over matching outputs (inf if shapes differ)."""
    worst = 0.0
    for x, y in zip(a, b):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape:
            return float("inf")
        if x.size:
            worst = max(worst, float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
    return worst
