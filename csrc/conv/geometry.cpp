// Shape rules of convolution and transposed convolution: every check of a geometry, done
// once when a kernel is prepared (conv.h: make_conv_geometry, make_conv_transpose_geometry).
#include <string>
#include <vector>

#include "common/check.h"
#include "conv/conv.h"
#include "conv/conv_internal.h"

namespace pyinfer {
using conv_internal::list_str;
using conv_internal::product;

std::string conv_internal::list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

namespace {

// Bounds that keep every index computation below far from int64 overflow.
constexpr int64_t kMaxParam = int64_t(1) << 31;
constexpr int64_t kMaxElements = int64_t(1) << 50;

// Common checks of conv and conv_transpose; fills everything but out_channels/out_spatial.
ConvGeometry check_common(const char* op, const std::vector<int64_t>& x_shape,
                          const std::vector<int64_t>& w_shape, const std::vector<int64_t>& strides,
                          const std::vector<int64_t>& pads, const std::vector<int64_t>& dilations,
                          int64_t group) {
  PYINFER_CHECK(x_shape.size() >= 3,
                op << ": x must have rank >= 3 ([N, C, spatial...]), got shape " << list_str(x_shape));
  PYINFER_CHECK(w_shape.size() == x_shape.size(),
                op << ": w must have the rank of x (" << x_shape.size() << "), got shape "
                   << list_str(w_shape) << " for x of shape " << list_str(x_shape));
  const size_t nd = x_shape.size() - 2;
  PYINFER_CHECK(strides.size() == nd, op << ": expected " << nd << " strides, got " << strides.size());
  PYINFER_CHECK(dilations.size() == nd, op << ": expected " << nd << " dilations, got " << dilations.size());
  PYINFER_CHECK(pads.size() == 2 * nd,
                op << ": expected " << 2 * nd << " pads ([begin..., end...]), got " << pads.size());
  PYINFER_CHECK(group >= 1, op << ": group must be >= 1, got " << group);
  for (size_t d = 0; d < nd; ++d) {
    PYINFER_CHECK(strides[d] >= 1 && strides[d] < kMaxParam,
                  op << ": strides must be positive, got " << list_str(strides));
    PYINFER_CHECK(dilations[d] >= 1 && dilations[d] < kMaxParam,
                  op << ": dilations must be positive, got " << list_str(dilations));
    PYINFER_CHECK(pads[d] >= 0 && pads[d + nd] >= 0 && pads[d] < kMaxParam && pads[d + nd] < kMaxParam,
                  op << ": pads must be non-negative, got " << list_str(pads));
    PYINFER_CHECK(w_shape[d + 2] >= 1,
                  op << ": kernel dimensions must be >= 1, w has shape " << list_str(w_shape));
  }
  ConvGeometry g;
  g.batch = x_shape[0];
  g.in_channels = x_shape[1];
  g.group = group;
  g.in_spatial.assign(x_shape.begin() + 2, x_shape.end());
  g.kernel.assign(w_shape.begin() + 2, w_shape.end());
  g.strides = strides;
  g.dilations = dilations;
  g.pads = pads;
  g.output_padding.assign(nd, 0);
  PYINFER_CHECK(g.in_channels >= 1, op << ": x has no channels (shape " << list_str(x_shape) << ")");
  PYINFER_CHECK(g.in_channels % group == 0,
                op << ": input channels (" << g.in_channels << ") are not divisible by group (" << group << ")");
  return g;
}

void finish_output_shape(const char* op, ConvGeometry& g, const std::vector<int64_t>& x_shape) {
  for (size_t d = 0; d < g.out_spatial.size(); ++d)
    PYINFER_CHECK(g.out_spatial[d] >= 1,
                  op << ": empty output: spatial dimension " << d << " would be " << g.out_spatial[d]
                     << " (input shape " << list_str(x_shape) << ", kernel " << list_str(g.kernel)
                     << ", strides " << list_str(g.strides) << ", pads " << list_str(g.pads)
                     << ", dilations " << list_str(g.dilations) << ")");
  g.y_shape = {g.batch, g.out_channels};
  g.y_shape.insert(g.y_shape.end(), g.out_spatial.begin(), g.out_spatial.end());
  long double n = 1;
  for (int64_t v : g.y_shape) n *= static_cast<long double>(v);
  PYINFER_CHECK(n < static_cast<long double>(kMaxElements),
                op << ": output shape " << list_str(g.y_shape) << " is too large");
}

// Walks grid positions [p0, p0 + count) of `grid` (row-major), for one kernel offset given
// as off[d] = k_d * dilation_d - pad_begin_d. The positions are cut into lines along the
// last dimension; for each, visit(j, len, a, b, t0) gets the tile columns [j, j + len) of

}  // namespace

ConvGeometry make_conv_geometry(const std::vector<int64_t>& x_shape,
                                const std::vector<int64_t>& w_shape, int64_t bias_len,
                                const std::vector<int64_t>& strides,
                                const std::vector<int64_t>& pads,
                                const std::vector<int64_t>& dilations, int64_t group) {
  const char* op = "conv";
  ConvGeometry g = check_common(op, x_shape, w_shape, strides, pads, dilations, group);
  PYINFER_CHECK(g.spatial_rank() <= 16, op << ": at most 16 spatial dimensions are supported");
  g.out_channels = w_shape[0];
  PYINFER_CHECK(g.out_channels >= 1 && g.out_channels % group == 0,
                op << ": output channels (w.shape[0] = " << g.out_channels
                   << ") must be a positive multiple of group (" << group << ")");
  PYINFER_CHECK(w_shape[1] == g.in_channels / group,
                op << ": w.shape[1] must be input channels / group = " << g.in_channels << " / " << group
                   << " = " << g.in_channels / group << ", got w of shape " << list_str(w_shape));
  PYINFER_CHECK(bias_len < 0 || bias_len == g.out_channels,
                op << ": bias must have " << g.out_channels << " values (one per output channel), got " << bias_len);
  const size_t nd = g.kernel.size();
  g.out_spatial.resize(nd);
  for (size_t d = 0; d < nd; ++d) {
    const int64_t span = (g.kernel[d] - 1) * g.dilations[d] + 1;
    const int64_t padded = g.in_spatial[d] + g.pads[d] + g.pads[d + nd];
    g.out_spatial[d] = padded < span ? 0 : (padded - span) / g.strides[d] + 1;
  }
  finish_output_shape(op, g, x_shape);
  return g;
}

ConvGeometry make_conv_transpose_geometry(const std::vector<int64_t>& x_shape,
                                          const std::vector<int64_t>& w_shape, int64_t bias_len,
                                          const std::vector<int64_t>& strides,
                                          const std::vector<int64_t>& pads,
                                          const std::vector<int64_t>& dilations, int64_t group,
                                          const std::vector<int64_t>& output_padding) {
  const char* op = "conv_transpose";
  ConvGeometry g = check_common(op, x_shape, w_shape, strides, pads, dilations, group);
  PYINFER_CHECK(g.spatial_rank() <= 16, op << ": at most 16 spatial dimensions are supported");
  PYINFER_CHECK(w_shape[0] == g.in_channels,
                op << ": w.shape[0] must equal the input channels (" << g.in_channels << "), got w of shape "
                   << list_str(w_shape));
  PYINFER_CHECK(w_shape[1] >= 1, op << ": w.shape[1] (output channels / group) must be >= 1");
  g.out_channels = w_shape[1] * group;
  PYINFER_CHECK(bias_len < 0 || bias_len == g.out_channels,
                op << ": bias must have " << g.out_channels << " values (one per output channel), got " << bias_len);
  const size_t nd = g.kernel.size();
  PYINFER_CHECK(output_padding.size() == nd,
                op << ": expected " << nd << " output_padding values, got " << output_padding.size());
  g.output_padding = output_padding;
  g.out_spatial.resize(nd);
  for (size_t d = 0; d < nd; ++d) {
    PYINFER_CHECK(output_padding[d] >= 0 && output_padding[d] < std::max(g.strides[d], g.dilations[d]),
                  op << ": output_padding must be non-negative and smaller than the stride or the dilation, got "
                     << list_str(output_padding) << " with strides " << list_str(g.strides)
                     << " and dilations " << list_str(g.dilations));
    const int64_t span = (g.kernel[d] - 1) * g.dilations[d] + 1;
    g.out_spatial[d] = g.strides[d] * (g.in_spatial[d] - 1) + output_padding[d] + span - g.pads[d] -
                       g.pads[d + nd];
  }
  PYINFER_CHECK(product(g.in_spatial) >= 1,
                op << ": x has an empty spatial dimension (shape " << list_str(x_shape) << ")");
  finish_output_shape(op, g, x_shape);
  return g;
}

}  // namespace pyinfer
