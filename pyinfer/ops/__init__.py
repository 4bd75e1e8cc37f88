"""Operator implementations, one module per family. Importing this package registers them all.

Where a new op goes: the module of its family below (or a new one, added to this list).
Each module keeps an op's attribute parsing, shape rule and kernel call together.
"""
from . import (  # noqa: F401
    activation,
    attention,
    cnn_blocks,
    conv,
    elementwise,
    fused,
    gemm,
    image,
    indexing,
    logic,
    loss,
    microsoft,
    ml,
    ml_linear,
    ml_preprocess,
    ml_svm,
    ml_tree,
    misc,
    normalization,
    pool,
    quantize,
    reduce,
    resize,
    rnn,
    shape,
    signal,
    text,
    training,
    vision,
)
