"""com.microsoft operators that onnxruntime's tools write for the CPU: its graph optimizer
(optimized_model_filepath: FusedConv, FusedGemm, FusedMatMul, Gelu...), its transformer optimizer
(onnxruntime.transformers.optimizer: Attention, SkipLayerNormalization, BiasGelu, FastGelu...) and its
quantizer (quantize_dynamic: DynamicQuantizeLSTM, DynamicQuantizeMatMul...). One module per family;
onnxruntime (docs/ContribOperators.md and its CPU kernels) is the reference for their semantics.
"""
MS = "com.microsoft"  # before the imports: the modules register under it

from . import activation, attention, fused, normalization, quantized  # noqa: E402, F401
