"""Hugging Face transformer models with random weights, exported to ONNX (tests/optimizer,
tools/bench_transformers.py).

No download: every configuration is built in code (HF_HUB_OFFLINE=1). Each model has a "full"
size (the shape the benchmarks name: BERT-base, all-MiniLM-L6-v2, DistilBERT-base, GPT-2 small,
ViT-B/16, Swin-T, the Whisper-tiny encoder, wav2vec2-base) and a "tiny" one (2 layers, hidden 32-64)
for tests. The weights are the library's random initialisation plus N(0, 0.02) noise on every
parameter, so biases and LayerNorm parameters are not the all-zero / all-one tensors an exporter
would merge into one initializer, and a runtime that drops a bias gives visibly wrong answers.

export(name, size, exporter, path, case) writes the ONNX file: "legacy" is the TorchScript exporter
(torch.onnx.export(dynamo=False), opset 17, dynamic batch and sequence axes, as deployed), "dynamo"
the torch.export one (opset 18+, shapes fixed to the example case: its symbolic shapes trip over the
libraries' input checks). The decoder steps (gpt2 with past) take past keys / values as inputs and
return the presents, like optimum's decoder_with_past model.
"""
from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

EXPORTERS = ("legacy", "dynamo")
# The attention implementation the builders ask for (None: the library's default, "sdpa"; "eager"
# is the explicit MatMul / Softmax / MatMul form older exports have). Set by build().
_ATTN = [None]
LEGACY_OPSET = 17


@dataclass
class Case:
    """One set of inputs: name -> (shape, kind) with kind "ids" (token ids below vocab), "mask"
    (ones), "float" (standard normal) or "past" (standard normal, a past key or value)."""
    inputs: dict
    vocab: int = 1000


@dataclass
class Spec:
    name: str
    description: str
    build: object            # (size) -> torch.nn.Module (a wrapper returning a tuple of tensors)
    input_names: list
    output_names: list
    dynamic_axes: dict
    cases: object            # (size, **params) -> Case
    params: dict = field(default_factory=dict)  # the case parameters the benchmarks sweep


def _torch():
    import torch

    return torch


def randomize(model, seed: int = 0):
    """N(0, 0.02) noise on every parameter (see the module docstring)."""
    torch = _torch()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return model.eval()


def _wrap(forward, module):
    torch = _torch()

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = module

        def forward(self, *args):
            return forward(self.m, *args)

    return Wrapper().eval()


# --- the models ----------------------------------------------------------------------------------

def _bert_config(size, hidden, layers, heads, ffn):
    from transformers import BertConfig

    if size == "tiny":
        hidden, layers, heads, ffn = 64, 2, 4, 128
    return BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      intermediate_size=ffn, vocab_size=1000 if size == "tiny" else 30522,
                      attn_implementation=_ATTN[0])


def _bert(hidden, layers, heads, ffn):
    def build(size):
        from transformers import BertModel

        model = randomize(BertModel(_bert_config(size, hidden, layers, heads, ffn), add_pooling_layer=False))
        return _wrap(lambda m, ids, mask: (m(input_ids=ids, attention_mask=mask).last_hidden_state,), model)
    return build


def _text_case(size, batch=1, seq=128):
    return Case({"input_ids": ((batch, seq), "ids"), "attention_mask": ((batch, seq), "mask")})


def _distilbert(size):
    from transformers import DistilBertConfig, DistilBertModel

    cfg = DistilBertConfig(attn_implementation=_ATTN[0]) if size == "full" else \
        DistilBertConfig(dim=64, n_layers=2, n_heads=4, hidden_dim=128, vocab_size=1000, attn_implementation=_ATTN[0])
    model = randomize(DistilBertModel(cfg))
    return _wrap(lambda m, ids, mask: (m(input_ids=ids, attention_mask=mask).last_hidden_state,), model)


def _gpt2_config(size):
    from transformers import GPT2Config

    if size == "tiny":
        return GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=1000, n_positions=256, attn_implementation=_ATTN[0])
    return GPT2Config(attn_implementation=_ATTN[0])


def gpt2_layers(size) -> int:
    return _gpt2_config(size).n_layer


def _gpt2(size):
    """Prompt: input_ids -> logits and every layer's present key and value ([B, heads, S, head_size])."""
    from transformers import GPT2LMHeadModel

    model = randomize(GPT2LMHeadModel(_gpt2_config(size)))

    def forward(m, ids):
        out = m(input_ids=ids, use_cache=True)
        return (out.logits,) + _flat_cache(out.past_key_values)
    return _wrap(forward, model)


def _flat_cache(cache):
    flat = []
    for layer in cache.layers:
        flat += [layer.keys, layer.values]
    return tuple(flat)


def _gpt2_past(size):
    """One decode step: input_ids [B, S], attention_mask [B, past + S], the past keys and values ->
    logits and the presents (past + S positions)."""
    from transformers import DynamicCache, GPT2LMHeadModel

    model = randomize(GPT2LMHeadModel(_gpt2_config(size)))

    def forward(m, ids, mask, *past):
        cache = DynamicCache()
        for i in range(len(past) // 2):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = m(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True)
        return (out.logits,) + _flat_cache(out.past_key_values)
    return _wrap(forward, model)


def _gpt2_names(size, past: bool):
    n = gpt2_layers(size)
    kv = [f"{p}.{i}.{w}" for i in range(n) for p, w in (("x", "key"), ("x", "value"))]
    ins = ["input_ids"] + (["attention_mask"] + [s.replace("x.", "past_key_values.") for s in kv] if past else [])
    outs = ["logits"] + [s.replace("x.", "present.") for s in kv]
    return ins, outs


def _gpt2_case(size, batch=1, seq=128, past=0):
    cfg = _gpt2_config(size)
    inputs = {"input_ids": ((batch, seq), "ids")}
    if past:
        inputs["attention_mask"] = ((batch, past + seq), "mask")
        head = cfg.n_embd // cfg.n_head
        for i in range(cfg.n_layer):
            inputs[f"past_key_values.{i}.key"] = ((batch, cfg.n_head, past, head), "past")
            inputs[f"past_key_values.{i}.value"] = ((batch, cfg.n_head, past, head), "past")
    return Case(inputs)


def _vit(size):
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(attn_implementation=_ATTN[0]) if size == "full" else \
        ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                  image_size=32, patch_size=8, attn_implementation=_ATTN[0])
    model = randomize(ViTModel(cfg, add_pooling_layer=False))
    return _wrap(lambda m, x: (m(pixel_values=x).last_hidden_state,), model)


def _swin(size):
    from transformers import SwinConfig, SwinModel

    cfg = SwinConfig(image_size=224, patch_size=4, embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                     window_size=7, attn_implementation=_ATTN[0]) if size == "full" else \
        SwinConfig(image_size=32, patch_size=4, embed_dim=32, depths=[1, 1], num_heads=[2, 4], window_size=4,
                   attn_implementation=_ATTN[0])
    model = randomize(SwinModel(cfg, add_pooling_layer=False))
    return _wrap(lambda m, x: (m(pixel_values=x).last_hidden_state,), model)


def _image_case(size, batch=1):
    side = 224 if size == "full" else 32
    return Case({"pixel_values": ((batch, 3, side, side), "float")})


def _whisper(size):
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    cfg = WhisperConfig(d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536,
                        num_mel_bins=80, max_source_positions=1500, attn_implementation=_ATTN[0]) if size == "full" else \
        WhisperConfig(d_model=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=128, num_mel_bins=16,
                      max_source_positions=50, attn_implementation=_ATTN[0])
    model = randomize(WhisperEncoder(cfg))
    return _wrap(lambda m, x: (m(input_features=x).last_hidden_state,), model)


def _whisper_case(size, batch=1):
    # Whisper's encoder takes exactly 30 s of mel frames (2 x max_source_positions).
    return Case({"input_features": ((batch, 80, 3000) if size == "full" else (batch, 16, 100), "float")})


def _wav2vec2(size):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    cfg = Wav2Vec2Config(attn_implementation=_ATTN[0]) if size == "full" else \
        Wav2Vec2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                       conv_dim=(32, 32), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                       num_conv_pos_embedding_groups=4, attn_implementation=_ATTN[0])
    model = randomize(Wav2Vec2Model(cfg))
    return _wrap(lambda m, x: (m(input_values=x).last_hidden_state,), model)


def _audio_case(size, batch=1, seconds=5):
    return Case({"input_values": ((batch, 16000 * seconds if size == "full" else 1600), "float")})


TEXT_AXES = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
             "last_hidden_state": {0: "batch", 1: "sequence"}}


def _gpt2_axes(size, past: bool):
    ins, outs = _gpt2_names(size, past)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    if past:
        axes["attention_mask"] = {0: "batch", 1: "total"}
    for n in ins[2:] if past else []:
        axes[n] = {0: "batch", 2: "past"}
    for n in outs[1:]:
        axes[n] = {0: "batch", 2: "total"}
    return axes


SPECS = {
    "bert-base": Spec("bert-base", "BERT-base: 12 layers, hidden 768, 12 heads", _bert(768, 12, 12, 3072),
                      ["input_ids", "attention_mask"], ["last_hidden_state"], TEXT_AXES, _text_case,
                      {"batch": (1, 8), "seq": (16, 64, 128, 256, 512)}),
    "minilm": Spec("minilm", "all-MiniLM-L6-v2-shaped: 6 layers, hidden 384, 12 heads", _bert(384, 6, 12, 1536),
                   ["input_ids", "attention_mask"], ["last_hidden_state"], TEXT_AXES, _text_case),
    "distilbert": Spec("distilbert", "DistilBERT-base-shaped: 6 layers, hidden 768, 12 heads", _distilbert,
                       ["input_ids", "attention_mask"], ["last_hidden_state"], TEXT_AXES, _text_case),
    "gpt2": Spec("gpt2", "GPT-2 small: 12 layers, hidden 768, a prompt (logits and presents)", _gpt2,
                 *_gpt2_names("full", False), None, _gpt2_case),
    "gpt2-past": Spec("gpt2-past", "GPT-2 small, one decode step with past keys and values", _gpt2_past,
                      *_gpt2_names("full", True), None, lambda size, **kw: _gpt2_case(size, **{"seq": 1, "past": 127, **kw})),
    "vit": Spec("vit", "ViT-B/16 at 224", _vit, ["pixel_values"], ["last_hidden_state"],
                {"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"}}, _image_case),
    "swin": Spec("swin", "Swin-T at 224", _swin, ["pixel_values"], ["last_hidden_state"],
                 {"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"}}, _image_case),
    "whisper-encoder": Spec("whisper-encoder", "Whisper-tiny encoder, 30 s of mel frames", _whisper,
                            ["input_features"], ["last_hidden_state"],
                            {"input_features": {0: "batch"}, "last_hidden_state": {0: "batch"}}, _whisper_case),
    "wav2vec2": Spec("wav2vec2", "wav2vec2-base-shaped, 5 s of 16 kHz audio", _wav2vec2, ["input_values"],
                     ["last_hidden_state"], {"input_values": {0: "batch", 1: "samples"},
                                             "last_hidden_state": {0: "batch", 1: "frames"}}, _audio_case),
}


def names(spec: Spec, size: str):
    """(input names, output names) of a model at this size (GPT-2's depend on its layer count)."""
    if spec.name.startswith("gpt2"):
        return _gpt2_names(size, spec.name == "gpt2-past")
    return spec.input_names, spec.output_names


def dynamic_axes(spec: Spec, size: str):
    if spec.name.startswith("gpt2"):
        return _gpt2_axes(size, spec.name == "gpt2-past")
    return spec.dynamic_axes


def make_feeds(case: Case, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, (shape, kind) in case.inputs.items():
        if kind == "ids":
            feeds[name] = rng.integers(0, case.vocab, shape).astype(np.int64)
        elif kind == "mask":
            feeds[name] = np.ones(shape, np.int64)
        else:
            feeds[name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def build(name: str, size: str = "full", seed: int = 0, attn: str | None = None):
    """The torch module (eval mode, fixed random weights); attn: the attention implementation
    (None: the library's default, sdpa; "eager")."""
    torch = _torch()
    torch.manual_seed(seed)
    _ATTN[0] = attn
    try:
        return SPECS[name].build(size)
    finally:
        _ATTN[0] = None


def torch_outputs(model, feeds: dict, input_names) -> list:
    """The module's float32 outputs on feeds, as NumPy arrays (the accuracy reference)."""
    torch = _torch()
    with torch.inference_mode():
        out = model(*[torch.from_numpy(feeds[n]) for n in input_names])
    return [o.numpy() for o in out]


def export(model, name: str, size: str, exporter: str, path: str, feeds: dict) -> str:
    """Writes model (built by build(name, size)) to path with exporter, feeds as the example."""
    torch = _torch()
    spec = SPECS[name]
    ins, outs = names(spec, size)
    args = tuple(torch.from_numpy(feeds[n]) for n in ins)
    # The dynamo exporter logs a warning per missing torchvision op; torchvision is not used here.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "legacy":
            torch.onnx.export(model, args, path, input_names=ins, output_names=outs,
                              dynamic_axes=dynamic_axes(spec, size), opset_version=LEGACY_OPSET, dynamo=False)
        elif exporter == "dynamo":
            torch.onnx.export(model, args, path, input_names=ins, output_names=outs, dynamo=True,
                              external_data=False, report=False, verbose=False)
        else:
            raise ValueError(f"unknown exporter {exporter!r} (one of {EXPORTERS})")
    return path


def cached_export(name: str, exporter: str, size: str = "tiny", attn: str | None = None,
                  base: str | None = None) -> tuple[str, dict, list]:
    """(onnx path, feeds, PyTorch's outputs) of a model exported once into a cache directory keyed
    by this module and the torch / transformers versions (base: $PYINFER_TEST_CACHE, else
    <repo>/cache/transformers, git-ignored)."""
    import torch
    import transformers

    digest = hashlib.sha256(f"{torch.__version__} {transformers.__version__}".encode())
    with open(os.path.abspath(__file__), "rb") as f:
        digest.update(f.read())
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    base = base or os.environ.get("PYINFER_TEST_CACHE") or os.path.join(root, "cache", "transformers")
    out = os.path.join(base, digest.hexdigest()[:12])
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, f"{name}.{size}.{attn or 'default'}.{exporter}")
    feeds = make_feeds(SPECS[name].cases(size))
    if not os.path.exists(stem + ".onnx"):  # the .onnx appears last: its presence means the pair is complete
        model = build(name, size, attn=attn)
        np.savez(stem + ".npz", *torch_outputs(model, feeds, names(SPECS[name], size)[0]))
        export(model, name, size, exporter, stem + ".tmp", feeds)
        os.replace(stem + ".tmp", stem + ".onnx")
    with np.load(stem + ".npz") as data:
        want = [data[f"arr_{i}"] for i in range(len(data.files))]
    return stem + ".onnx", feeds, want
