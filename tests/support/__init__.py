"""Shared test machinery, importable as `support` (pytest puts tests/ on sys.path: pythonpath in
pyproject.toml; tools/ scripts add it through tools/_checkout.py). Tests never import tools/.

    one_node         one ONNX node through pyinfer and through onnx.reference (tests/ops)
    opt_helpers      small graphs run optimized and not (tests/optimizer)
    runtime_graphs   small graphs for the executor and compiled-plan tests (tests/runtime)
    hostile_models   tiny models that are easy to break on purpose (tests/hostile)
    fuzz             the seeded model / feed fuzzer behind tests/hostile/test_fuzz.py and tools/fuzz.py
    norm_reference   the LRN oracle; rnn_reference: the LSTM / GRU / RNN oracle
    onnx_backend     the exclusions of ONNX's backend suite
    torch_models     the PyTorch architectures of the model tests (needs torch)
    model_export     exporting them to ONNX with PyTorch's outputs, cached (tests/models, tools/)
    light_models     onnx's light_*.onnx CNNs with random real weights (tools/bench.py)
"""
