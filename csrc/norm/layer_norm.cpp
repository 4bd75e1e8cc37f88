// prepare_layer_norm (layer_norm.h): shapes and parameters checked once; run() splits the rows
// over threads and calls the active tier's loops (layer_norm_isa.cpp).
#include "norm/layer_norm.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/check.h"
#include "common/thread_pool.h"
#include "norm/layer_norm_kernels.h"

namespace pyinfer {
namespace {


int64_t product(const std::vector<int64_t>& s, size_t from = 0, size_t to = size_t(-1)) {
  int64_t n = 1;
  for (size_t i = from; i < std::min(to, s.size()); ++i) n *= s[i];
  return n;
}

// Whether `p` is the normalized dims (x's dims from `axis` on) with leading 1s, or fewer of the
// trailing dims (a skip repeating over leading rows: allow_fewer).
bool trailing_dims_match(const std::vector<int64_t>& p, const std::vector<int64_t>& x, size_t axis, bool allow_fewer) {
  size_t lead = 0;
  while (lead < p.size() && p[lead] == 1 && p.size() - lead > x.size() - axis) ++lead;
  const size_t rest = p.size() - lead;
  if (rest > x.size() || (!allow_fewer && rest != x.size() - axis) || rest < x.size() - axis) return false;
  for (size_t i = 0; i < rest; ++i)
    if (p[lead + i] != x[x.size() - rest + i]) return false;
  return true;
}

}  // namespace

PreparedPtr prepare_layer_norm(const LayerNormParams& p) {
  const char* op = p.rms ? "rms_norm" : "layer_norm";
  const auto& xs = p.x_shape;
  const int64_t rank = int64_t(xs.size());
  PYINFER_CHECK(rank >= 1, op << ": x must have rank >= 1");
  for (int64_t d : xs) PYINFER_CHECK(d >= 0, op << ": negative dimension in x " << shape_str(xs));
  PYINFER_CHECK(p.axis >= -rank && p.axis < rank, op << ": axis " << p.axis << " is out of range for rank " << rank);
  const size_t axis = size_t(p.axis < 0 ? p.axis + rank : p.axis);
  const int64_t rows = product(xs, 0, axis), cols = product(xs, axis);
  PYINFER_CHECK(std::isfinite(p.epsilon) && p.epsilon >= 0.f, op << ": epsilon must be finite and >= 0, got " << p.epsilon);
  const int64_t channels = p.channel_params ? (xs.size() > 1 ? xs[1] : 0) : 0;
  if (p.channel_params) {
    PYINFER_CHECK(xs.size() >= 2 && axis == 2 && !p.has_skip && !p.has_bias && !p.rms,
                  op << ": per-channel parameters need x [N, C, ...] normalized from axis 2, no skip, bias or rms");
    PYINFER_CHECK(product(p.gamma_shape) == channels && (!p.has_beta || product(p.beta_shape) == channels),
                  op << ": per-channel gamma / beta must hold " << channels << " values");
  } else {
    PYINFER_CHECK(trailing_dims_match(p.gamma_shape, xs, axis, false),
                  op << ": gamma of shape " << shape_str(p.gamma_shape) << " is not the normalized shape of x "
                     << shape_str(xs) << " from axis " << axis);
    if (p.has_beta)
      PYINFER_CHECK(trailing_dims_match(p.beta_shape, xs, axis, false),
                    op << ": beta of shape " << shape_str(p.beta_shape) << " is not the normalized shape of x "
                       << shape_str(xs) << " from axis " << axis);
  }
  int64_t skip_rows = 1;
  if (p.has_skip) {
    PYINFER_CHECK(trailing_dims_match(p.skip_shape, xs, axis, true),
                  op << ": skip of shape " << shape_str(p.skip_shape) << " does not repeat over the leading dims of x "
                     << shape_str(xs));
    skip_rows = cols ? product(p.skip_shape) / cols : 1;
    PYINFER_CHECK(skip_rows >= 1 && (rows == 0 || rows % skip_rows == 0), op << ": skip rows do not divide x's rows");
  }
  std::vector<int64_t> stat_shape(xs.begin(), xs.begin() + axis);
  stat_shape.resize(xs.size(), 1);
  const float epsilon = p.epsilon;
  const bool rms = p.rms, has_beta = p.has_beta, has_skip = p.has_skip, has_bias = p.has_bias;

  KernelBuilder b(op);
  b.input("x", xs).input("gamma", p.gamma_shape);
  if (has_beta) b.input("beta", p.beta_shape);
  else b.unused_input("beta");
  if (has_skip) b.input("skip", p.skip_shape);
  else b.unused_input("skip");
  if (has_bias) b.input("bias", {cols});
  else b.unused_input("bias");
  b.output("y", xs).output("mean", stat_shape, DType::Float32, false).output("inv_std", stat_shape, DType::Float32, false);
  b.output("sum", xs, DType::Float32, false);
  b.algorithm(has_skip || has_bias ? "rows_with_residual" : "rows");
  b.remake([p](const Shapes& s) {  // inputs x, gamma, beta, skip, bias: the present ones' new shapes
    LayerNormParams q = p;
    q.x_shape = s[0];
    q.gamma_shape = s[1];
    if (q.has_beta) q.beta_shape = s[2];
    if (q.has_skip) q.skip_shape = s[3];
    return prepare_layer_norm(q);
  });
  return b.run([=](const void* const* in, void* const* out, int threads) {
    if (rows == 0 || cols == 0) return;
    LayerNormRows a;
    a.x = f32_in(in, 0);
    a.gamma = f32_in(in, 1);
    a.beta = has_beta ? f32_in(in, 2) : nullptr;
    a.skip = has_skip ? f32_in(in, 3) : nullptr;
    a.bias = has_bias ? f32_in(in, 4) : nullptr;
    a.y = f32_out(out, 0);
    a.mean = rms ? nullptr : f32_out(out, 1);
    a.inv_std = f32_out(out, 2);
    a.sum = f32_out(out, 3);
    a.cols = cols;
    a.skip_rows = skip_rows;
    a.epsilon = epsilon;
    a.rms = rms;
    a.channels = channels;
    const auto& t = layer_norm_kernels();
    // The cost model (common/thread_pool.h): two passes over a row (read, then read and write)
    // and ~8 flops per element.
    const double elements = double(rows) * double(cols);
    const int useful = threads_for_work(bytes_ns(12.0 * elements) + flops_ns(8.0 * elements), rows, threads);
    if (useful <= 1) return t.rows(a, 0, rows);
    parallel_for(rows, useful, [&](int64_t r0, int64_t r1) { t.rows(a, r0, r1); });
  });
}

}  // namespace pyinfer
