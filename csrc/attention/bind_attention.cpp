// Python bindings of the attention kernel (attention.h): prepare_attention for the plans and the
// one-call attention.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "attention/attention.h"
#include "attention/rotary.h"
#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

using Shape = std::optional<std::vector<int64_t>>;

AttentionParams params_of(const std::vector<int64_t>& q_shape, Shape k_shape, Shape v_shape, int64_t q_heads,
                          int64_t kv_heads, float scale, bool causal, Shape mask_shape, bool key_padding,
                          float mask_filter, std::optional<int64_t> past_len, bool present, bool heads_output,
                          int64_t v_head_size, bool causal_from_start) {
  AttentionParams p;
  p.q_shape = q_shape;
  PYINFER_CHECK(k_shape.has_value() == v_shape.has_value(), "attention: give both k and v, or neither (packed QKV)");
  p.packed_qkv = !k_shape;
  if (k_shape) p.k_shape = *k_shape, p.v_shape = *v_shape;
  p.q_heads = q_heads;
  p.kv_heads = kv_heads ? kv_heads : q_heads;
  p.scale = scale;
  p.causal = causal;
  p.causal_from_start = causal_from_start;
  p.has_mask = mask_shape.has_value();
  if (mask_shape) p.mask_shape = *mask_shape;
  p.has_key_padding = key_padding;
  p.mask_filter = mask_filter;
  p.has_past = past_len.has_value();
  p.past_len = past_len.value_or(0);
  p.present = present;
  p.heads_output = heads_output;
  p.v_head_size = v_head_size;
  return p;
}

Shape shape_or_none(const py::object& a) {
  if (a.is_none()) return std::nullopt;
  return bind::shape_of(a.cast<py::array>());
}

}  // namespace

PYINFER_BINDINGS(attention, 10) {
  m.def(
      "prepare_attention",
      [](const std::vector<int64_t>& q_shape, Shape k_shape, Shape v_shape, int64_t q_heads, int64_t kv_heads,
         float scale, bool causal, Shape mask_shape, bool key_padding, float mask_filter,
         std::optional<int64_t> past_len, bool present, bool heads_output, int64_t v_head_size,
         bool causal_from_start) {
        return prepare_attention(params_of(q_shape, k_shape, v_shape, q_heads, kv_heads, scale, causal, mask_shape,
                                           key_padding, mask_filter, past_len, present, heads_output, v_head_size,
                                           causal_from_start));
      },
      py::arg("q_shape"), py::arg("k_shape") = py::none(), py::arg("v_shape") = py::none(), py::kw_only(),
      py::arg("q_heads"), py::arg("kv_heads") = 0, py::arg("scale") = 0.f, py::arg("causal") = false,
      py::arg("mask_shape") = py::none(), py::arg("key_padding") = false, py::arg("mask_filter") = -10000.f,
      py::arg("past_len") = py::none(), py::arg("present") = false, py::arg("heads_output") = false,
      py::arg("v_head_size") = 0, py::arg("causal_from_start") = false,
      "prepare_attention(q_shape, k_shape=None, v_shape=None, *, q_heads, kv_heads=0, scale=0, causal=False,\n"
      "                  mask_shape=None, key_padding=False, mask_filter=-10000, past_len=None, present=False,\n"
      "                  heads_output=False, v_head_size=0, causal_from_start=False) -> PreparedKernel\n\n"
      "attention() prepared for these shapes (k_shape / v_shape None: q is packed QKV). The kernel takes\n"
      "(q, k, v, mask, key_padding, past_key, past_value) and writes (y, present_key, present_value).");
  m.def(
      "attention",
      [](py::handle q_obj, py::object k_obj, py::object v_obj, int64_t q_heads, int64_t kv_heads, float scale,
         bool causal, py::object mask_obj, py::object key_padding_obj, float mask_filter, py::object past_key,
         py::object past_value, bool present, bool heads_output, int64_t v_head_size, bool causal_from_start,
         int num_threads) {
        auto q = bind::float_array(q_obj, "attention: q", 3, 4);
        py::object k = k_obj.is_none() ? py::none() : py::object(bind::float_array(k_obj, "attention: k", 3, 4));
        py::object v = v_obj.is_none() ? py::none() : py::object(bind::float_array(v_obj, "attention: v", 3, 4));
        py::object mask = mask_obj.is_none() ? py::none() : py::object(bind::float_array(mask_obj, "attention: mask", 1, 4));
        py::object keep = py::none();
        if (!key_padding_obj.is_none())
          keep = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(key_padding_obj);
        PYINFER_CHECK(past_key.is_none() == past_value.is_none(), "attention: give past_key and past_value together");
        std::optional<int64_t> past_len;
        if (!past_key.is_none()) {
          past_key = bind::float_array(past_key, "attention: past_key", 4, 4);
          past_value = bind::float_array(past_value, "attention: past_value", 4, 4);
          past_len = past_key.cast<py::array>().shape(2);
        }
        auto kernel = prepare_attention(params_of(bind::shape_of(q), shape_or_none(k), shape_or_none(v), q_heads,
                                                  kv_heads, scale, causal, shape_or_none(mask), !keep.is_none(),
                                                  mask_filter, past_len, present, heads_output, v_head_size,
                                                  causal_from_start));
        const bool with_present = present || past_len.has_value();
        py::object r = bind::call(*kernel, {q, k, v, mask, keep, past_key, past_value}, num_threads, {},
                                  {false, !with_present, !with_present});
        return with_present ? r : py::object(r.cast<py::tuple>()[0]);
      },
      py::arg("q"), py::arg("k") = py::none(), py::arg("v") = py::none(), py::kw_only(), py::arg("q_heads"),
      py::arg("kv_heads") = 0, py::arg("scale") = 0.f, py::arg("causal") = false, py::arg("mask") = py::none(),
      py::arg("key_padding") = py::none(), py::arg("mask_filter") = -10000.f, py::arg("past_key") = py::none(),
      py::arg("past_value") = py::none(), py::arg("present") = false, py::arg("heads_output") = false,
      py::arg("v_head_size") = 0, py::arg("causal_from_start") = false, py::arg("num_threads") = 0,
      "attention(q, k=None, v=None, *, q_heads, kv_heads=0, scale=0, causal=False, mask=None, key_padding=None,\n"
      "          mask_filter=-10000, past_key=None, past_value=None, present=False, heads_output=False,\n"
      "          v_head_size=0, causal_from_start=False, num_threads=0)\n\n"
      "Multi-head scaled dot-product attention, softmax(scale * q k^T + masks) v, per head, of float32\n"
      "operands each [B, S, heads * D] (tokens layout) or [B, heads, S, D] (heads layout); k and v None:\n"
      "q is packed QKV [B, S, q_heads * D + kv_heads * D + kv_heads * Dv] (v_head_size: Dv when it\n"
      "differs from D). kv_heads (0: q_heads) divides q_heads (grouped-query attention). scale 0:\n"
      "1 / sqrt(D). mask: additive float32, broadcasting to [B, q_heads, S, T]; key_padding: [B, T],\n"
      "0 marks padding (adds mask_filter); causal: key j visible to query i when j <= i + T - S (with\n"
      "causal_from_start: j <= i, torch's is_causal). A row\n"
      "with every score -inf gives zeros. past_key / past_value [B, kv_heads, P, D] go in front of the\n"
      "new keys / values. Returns y ([B, S, q_heads * Dv], or [B, q_heads, S, Dv] with heads_output),\n"
      "or (y, present_key, present_value) with present=True or a past.");

  auto rotary_params = [](const std::vector<int64_t>& x_shape, const std::vector<int64_t>& cache_shape,
                          bool positions, int64_t num_heads, int64_t rotary_dim, bool interleaved) {
    RotaryParams p;
    p.x_shape = x_shape;
    p.cache_shape = cache_shape;
    p.has_positions = positions;
    p.num_heads = num_heads;
    p.rotary_dim = rotary_dim;
    p.interleaved = interleaved;
    return p;
  };
  m.def(
      "prepare_rotary_embedding",
      [rotary_params](const std::vector<int64_t>& x_shape, const std::vector<int64_t>& cache_shape, bool positions,
                      int64_t num_heads, int64_t rotary_dim, bool interleaved) {
        return prepare_rotary(rotary_params(x_shape, cache_shape, positions, num_heads, rotary_dim, interleaved));
      },
      py::arg("x_shape"), py::arg("cache_shape"), py::arg("positions") = true, py::kw_only(), py::arg("num_heads") = 0,
      py::arg("rotary_dim") = 0, py::arg("interleaved") = false,
      "prepare_rotary_embedding(x_shape, cache_shape, positions=True, *, num_heads=0, rotary_dim=0,\n"
      "                         interleaved=False) -> PreparedKernel\n\n"
      "rotary_embedding() prepared for these shapes; the kernel takes (x, cos_cache, sin_cache, position_ids).");
  m.def(
      "rotary_embedding",
      [rotary_params](py::handle x_obj, py::handle cos_obj, py::handle sin_obj, py::object ids_obj, int64_t num_heads,
                      int64_t rotary_dim, bool interleaved, int num_threads) {
        auto x = bind::float_array(x_obj, "rotary_embedding: x", 3, 4);
        auto cos = bind::float_array(cos_obj, "rotary_embedding: cos_cache", 2, 3);
        auto sin = bind::float_array(sin_obj, "rotary_embedding: sin_cache", 2, 3);
        py::object ids = py::none();
        if (!ids_obj.is_none()) ids = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(ids_obj);
        auto k = prepare_rotary(rotary_params(bind::shape_of(x), bind::shape_of(cos), !ids.is_none(), num_heads,
                                              rotary_dim, interleaved));
        return bind::call(*k, {x, cos, sin, ids}, num_threads);
      },
      py::arg("x"), py::arg("cos_cache"), py::arg("sin_cache"), py::arg("position_ids") = py::none(), py::kw_only(),
      py::arg("num_heads") = 0, py::arg("rotary_dim") = 0, py::arg("interleaved") = false, py::arg("num_threads") = 0,
      "rotary_embedding(x, cos_cache, sin_cache, position_ids=None, *, num_heads=0, rotary_dim=0, interleaved=False,\n"
      "                 num_threads=0)\n\n"
      "ONNX RotaryEmbedding-23 on float32 x ([B, H, S, D], or [B, S, H * D] with num_heads): the first\n"
      "rotary_dim (0: D) floats of each head rotated by cos / sin ([max_position, rotary_dim / 2] read at\n"
      "the int64 position_ids [B, S], or [B, S, rotary_dim / 2] without them), as two halves or (interleaved)\n"
      "as even / odd pairs; the rest copied.");
}

}  // namespace pyinfer
