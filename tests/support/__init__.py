"""Shared test machinery, importable as `support` (pytest puts tests/ on sys.path: pythonpath in
pyproject.toml).

    one_node         one ONNX node through pyinfer and through onnx.reference (tests/ops)
    opt_helpers      small graphs run optimized and not (tests/optimizer)
    runtime_graphs   small graphs for the executor and compiled-plan tests (tests/runtime)
    hostile_models   tiny models that are easy to break on purpose (tests/hostile)
    norm_reference   the LRN oracle; rnn_reference: the LSTM / GRU / RNN oracle
    onnx_backend     the exclusions of ONNX's backend suite
    torch_models     small PyTorch models for the optimizer tests (needs torch)
"""
