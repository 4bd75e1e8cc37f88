#!/usr/bin/env python
"""Load-test `pyinfer serve` on loopback against a plain onnxruntime + FastAPI service.

Starts the servers as subprocesses (pyinfer with dynamic batching, pyinfer without, and
tools/ort_fastapi_server.py), checks Triton's HTTP client against pyinfer (metadata, and outputs
equal to a local session), then drives each server with an async httpx client: closed-loop
clients sending batch-1 requests in the binary tensor format, for --duration seconds after
--warmup, at each --concurrency. Servers take turns within every round (the order rotates), so
background load on the machine spreads over all of them; compare the ratios. Reports throughput,
p50 / p99 latency, errors and the server's resident memory.

    python tools/bench_serve.py                        # ResNet-18 (exported with torch, cached)
    python tools/bench_serve.py --model m.onnx --concurrency 1,8,32 --rounds 3 --json out.json
    python tools/bench_serve.py --soak 600             # RSS of pyinfer serve under 16 clients for 10 min
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import httpx
import numpy as np

from _machine import cpu_name  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import pyinfer  # noqa: E402
from support.serve_util import free_port, wait_until_ready  # noqa: E402  (the server tests' helpers)

MODEL_NAME = "m"


# --- servers ------------------------------------------------------------------------------------

def _pyinfer_command(args, batch: int) -> list[str]:
    return [sys.executable, "-m", "pyinfer", "serve", args.model, "--name", MODEL_NAME, "--threads", str(args.threads),
            "--instances", str(args.instances), "--max-batch-size", str(batch),
            "--max-queue-delay-ms", str(args.max_queue_delay_ms), "--max-queue-size", "1024", "--log-level", "warning"]


SERVERS = {
    "pyinfer-batched": lambda args: _pyinfer_command(args, args.max_batch_size),
    "pyinfer-unbatched": lambda args: _pyinfer_command(args, 1),
    "ort-fastapi": lambda args: [sys.executable, os.path.join(ROOT, "tools", "ort_fastapi_server.py"), args.model,
                                 "--threads", str(args.threads)],
}


class Server:
    def __init__(self, name: str, command: list[str]):
        self.name = name
        self.port = free_port()
        self.url = f"127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(command + ["--port", str(self.port)], cwd=ROOT, env=env)

    def wait_ready(self, timeout_s: float = 300) -> None:
        wait_until_ready(self.url, self.proc, timeout_s)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()



# --- load -----------------------------------------------------------------------------------------

def binary_request(name: str, x: np.ndarray) -> tuple[bytes, dict]:
    header = json.dumps({"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()
    return header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header)),
                                  "Content-Type": "application/octet-stream"}


class Connection:
    """A minimal HTTP/1.1 keep-alive connection on asyncio streams. httpx spends about 4 ms of CPU per
    request, which on a small machine takes the cores the server is measured on; this spends a
    fraction of that. It sends one prepared request and reads responses with a Content-Length."""

    def __init__(self, host: str, port: int, request: bytes):
        self.host, self.port, self.request = host, port, request
        self.reader = self.writer = None

    async def send(self) -> int:
        """Send the request; the response's status (the body is read and dropped)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.request)
        status = int((await self.reader.readline()).split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def http_request(host: str, port: int, path: str, body: bytes, headers: dict) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


async def drive(url: str, body: bytes, headers: dict, concurrency: int, duration_s: float, warmup_s: float,
                cpu_seconds=None) -> dict:
    """Closed-loop clients for warmup_s + duration_s (url: host:port/path); statistics of what started after
    the warm-up. cpu_seconds(): the server's CPU time so far, for its CPU time per request (which
    background load on the machine disturbs far less than throughput)."""
    loop = asyncio.get_running_loop()
    address, _, path = url.partition("/")
    host, port = address.rsplit(":", 1)
    request = http_request(host, int(port), "/" + path, body, headers)
    latencies, errors, statuses = [], 0, {}
    start = loop.time()
    measure_from, end = start + warmup_s, start + warmup_s + duration_s
    completed = 0
    cpu = {}

    async def client_loop():
        nonlocal errors, completed
        conn = Connection(host, int(port), request)
        while loop.time() < end:
            t0 = loop.time()
            try:
                status = await asyncio.wait_for(conn.send(), 120)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as e:
                conn.close()
                status = type(e).__name__
            t1 = loop.time()
            ok = status == 200
            if not ok:
                errors += 1
                statuses[status] = statuses.get(status, 0) + 1
            if t0 >= measure_from and ok:
                latencies.append(t1 - t0)
            if measure_from <= t1 <= end and ok:
                completed += 1
        conn.close()

    async def sample_cpu():
        await asyncio.sleep(measure_from - loop.time())
        cpu["start"] = cpu_seconds()
        await asyncio.sleep(end - loop.time())
        cpu["end"] = cpu_seconds()

    await asyncio.gather(*[client_loop() for _ in range(concurrency)], *([sample_cpu()] if cpu_seconds else []))
    lat = np.array(latencies) * 1000
    cpu_ms = 1000 * (cpu["end"] - cpu["start"]) / completed if cpu and completed else None
    return {"requests_per_s": completed / duration_s, "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
            "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None, "errors": errors,
            "error_kinds": statuses, "measured": len(lat), "completed": completed, "cpu_ms_per_request": cpu_ms}


def run_load(*args, **kwargs) -> dict:
    """drive() on uvloop when it is installed (a cheaper event loop for the client)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(drive(*args, **kwargs))
    return uvloop.run(drive(*args, **kwargs))


def _merge(runs: list[dict]) -> dict:
    """Rounds of one (server, concurrency): mean throughput, the median of the rounds' percentiles."""
    return {"requests_per_s": float(np.mean([r["requests_per_s"] for r in runs])),
            "p50_ms": float(np.median([r["p50_ms"] for r in runs])),
            "p99_ms": float(np.median([r["p99_ms"] for r in runs])),
            "errors": sum(r["errors"] for r in runs),
            "cpu_ms_per_request": float(np.sum([r["cpu_ms_per_request"] * r["completed"] for r in runs])
                                        / max(1, sum(r["completed"] for r in runs))),
            "rounds": runs}


# --- checks and reports ---------------------------------------------------------------------------

def triton_check(server: Server, model: str, x: np.ndarray) -> dict:
    import tritonclient.http as tc

    client = tc.InferenceServerClient(server.url, network_timeout=120)
    meta = client.get_model_metadata(MODEL_NAME)
    inp = tc.InferInput(meta["inputs"][0]["name"], list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    got = client.infer(MODEL_NAME, [inp]).as_numpy(meta["outputs"][0]["name"])
    want = pyinfer.InferenceSession(model).run(None, {meta["inputs"][0]["name"]: x})[0]
    client.close()
    return {"metadata": meta, "max_abs_diff": float(np.abs(got - want).max()),
            "bit_identical": bool(np.array_equal(got, want)), "argmax_equal": bool((got.argmax(1) == want.argmax(1)).all())}




def mlp_model(path: str, widths=(1024, 4096, 4096, 1000), seed: int = 0) -> str:
    """A ReLU MLP with a dynamic batch: at batch 1 each layer is a matrix-vector product that reads all
    its weights (64 MB for the middle one) for one row, the case dynamic batching amortizes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "x"
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        y = f"h{i}" if i < len(widths) - 2 else "y"
        nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [y + ("_mm" if y != "y" else "")]))
        if y != "y":
            nodes.append(helper.make_node("Relu", [y + "_mm"], [y]))
        x = y
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", widths[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", widths[-1]])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _default_model() -> str:
    spec = importlib.util.spec_from_file_location("export_models", os.path.join(ROOT, "tools", "export_models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cached_export("resnet18", "legacy")[0]


def _print_table(results: dict) -> None:
    print(f"\n{'server':<20}{'clients':>8}{'req/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'CPU ms/req':>12}{'errors':>8}"
          f"{'RSS MB':>9}")
    for (name, conc), r in results.items():
        print(f"{name:<20}{conc:>8}{r['requests_per_s']:>9.2f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}"
              f"{r['cpu_ms_per_request']:>12.1f}{r['errors']:>8}{r['rss_mb']:>9.0f}")


def _print_ratios(results: dict, conc: int) -> dict:
    ratios = {}
    b, u, o = (results.get((n, conc)) for n in ("pyinfer-batched", "pyinfer-unbatched", "ort-fastapi"))
    if b and u:
        ratios["batched_vs_unbatched_throughput"] = b["requests_per_s"] / u["requests_per_s"]
        ratios["batched_vs_unbatched_cpu_per_request"] = b["cpu_ms_per_request"] / u["cpu_ms_per_request"]
    if b and o:
        ratios["pyinfer_vs_ort_throughput"] = b["requests_per_s"] / o["requests_per_s"]
        ratios["pyinfer_vs_ort_p99"] = b["p99_ms"] / o["p99_ms"]
        ratios["pyinfer_vs_ort_cpu_per_request"] = b["cpu_ms_per_request"] / o["cpu_ms_per_request"]
    if u and o:
        ratios["unbatched_vs_ort_throughput"] = u["requests_per_s"] / o["requests_per_s"]
    for k, v in ratios.items():
        print(f"  at {conc} clients: {k} = {v:.2f}")
    return ratios


# --- modes ----------------------------------------------------------------------------------------

def compare(args, x: np.ndarray, body: bytes, headers: dict) -> dict:
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    servers = [Server(n, SERVERS[n](args)) for n in names]
    try:
        for s in servers:
            s.wait_ready()
        report = {}
        if "pyinfer-batched" in names and not args.skip_triton:
            check = triton_check(servers[names.index("pyinfer-batched")], args.model, x)
            print(f"tritonclient vs local session: max |diff| {check['max_abs_diff']:.3g}, "
                  f"bit-identical {check['bit_identical']}, argmax equal {check['argmax_equal']}")
            print(f"  metadata: {json.dumps(check['metadata'])}")
            report["triton_check"] = check
        concurrencies = [int(c) for c in args.concurrency.split(",")]
        runs = {(s.name, c): [] for c in concurrencies for s in servers}
        rss = {}
        for rnd in range(args.rounds):
            for c in concurrencies:
                order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
                for s in order:
                    url = f"{s.url}/v2/models/{MODEL_NAME}/infer"
                    r = run_load(url, body, headers, c, args.duration, args.warmup, s.cpu_seconds)
                    rss[(s.name, c)] = s.rss_mb()
                    runs[(s.name, c)].append(r)
                    print(f"round {rnd + 1} {s.name:<18} {c:>3} clients: {r['requests_per_s']:7.2f} req/s  "
                          f"p50 {r['p50_ms']:8.1f} ms  p99 {r['p99_ms']:8.1f} ms  CPU {r['cpu_ms_per_request']:6.1f} "
                          f"ms/req  errors {r['errors']} "
                          f"{r['error_kinds'] or ''}", flush=True)
        results = {key: {**_merge(v), "rss_mb": rss[key]} for key, v in runs.items()}
        _print_table(results)
        report["ratios"] = {c: _print_ratios(results, c) for c in concurrencies}
        report["results"] = {f"{n}@{c}": r for (n, c), r in results.items()}
        return report
    finally:
        for s in servers:
            s.stop()


def soak(args, body: bytes, headers: dict) -> dict:
    server = Server("pyinfer-batched", SERVERS["pyinfer-batched"](args))
    try:
        server.wait_ready()
        url = f"{server.url}/v2/models/{MODEL_NAME}/infer"
        samples = []

        async def sample_rss():
            t0 = time.monotonic()
            while True:
                samples.append((time.monotonic() - t0, server.rss_mb()))
                await asyncio.sleep(args.soak_sample_s)

        async def main():
            sampler = asyncio.create_task(sample_rss())
            try:
                return await drive(url, body, headers, args.soak_concurrency, args.soak, 0, server.cpu_seconds)
            finally:
                sampler.cancel()

        load = asyncio.run(main())
        settle = max(30.0, args.soak * 0.1)  # allocator pools and plan caches fill during the first part
        base = next(rss for t, rss in samples if t >= settle)
        final, peak = samples[-1][1], max(rss for t, rss in samples if t >= settle)
        report = {"seconds": args.soak, "clients": args.soak_concurrency, **load, "rss_start_mb": samples[0][1],
                  "rss_after_settle_mb": base, "rss_final_mb": final, "rss_peak_mb": peak,
                  "growth_final_pct": 100 * (final - base) / base, "growth_peak_pct": 100 * (peak - base) / base,
                  "samples": samples}
        print(f"soak {args.soak:.0f} s, {args.soak_concurrency} clients: {load['requests_per_s']:.2f} req/s, "
              f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, errors {load['errors']}")
        print(f"  RSS: start {samples[0][1]:.0f} MB, after {settle:.0f} s {base:.0f} MB, final {final:.0f} MB, "
              f"peak {peak:.0f} MB: growth {report['growth_final_pct']:+.2f}% (peak {report['growth_peak_pct']:+.2f}%)")
        return report
    finally:
        server.stop()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="an ONNX model with a dynamic batch dimension (default: ResNet-18; "
                                   "'mlp': a generated 1024-4096-4096-1000 MLP)")
    p.add_argument("--servers", default=",".join(SERVERS), help=f"which of {list(SERVERS)}")
    p.add_argument("--threads", type=int, default=2, help="kernel threads per instance (and onnxruntime's)")
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("--max-batch-size", type=int, default=8)
    p.add_argument("--max-queue-delay-ms", type=float, default=0.0)
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=4.0, help="unmeasured seconds before each run")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--skip-triton", action="store_true")
    p.add_argument("--soak", type=float, default=0.0, help="instead: run pyinfer-batched this many seconds")
    p.add_argument("--soak-concurrency", type=int, default=16)
    p.add_argument("--soak-sample-s", type=float, default=5.0)
    p.add_argument("--json", help="write the report here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        if args.model == "mlp":
            args.model = mlp_model(os.path.join(tmp, "mlp.onnx"))
        args.model = args.model or _default_model()
        return _run(args)


def _run(args) -> int:
    """The comparison or the soak for args.model, printed (and written to args.json)."""
    sess = pyinfer.InferenceSession(args.model, num_threads=1)
    arg = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in arg.shape]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    del sess
    body, headers = binary_request(arg.name, x)
    print(f"{args.model}: input {arg.name} {shape}; CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; "
          f"load average {os.getloadavg()[0]:.2f}; threads {args.threads}, instances {args.instances}, "
          f"max batch {args.max_batch_size}, queue delay {args.max_queue_delay_ms} ms", flush=True)
    report = {"cpu": cpu_name(), "model": args.model, "settings": {k: v for k, v in vars(args).items()}}
    if args.soak:
        report["soak"] = soak(args, body, headers)
    else:
        report.update(compare(args, x, body, headers))
    report["load_average_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
