// Winograd F(4x4, 3x3) inner loops (conv/winograd.h), one copy per ISA tier. Channels are
// the vector lanes everywhere: the transforms are the same few adds per channel, and the 36
// products broadcast one tile's value of V against a panel of output channels of U.
#include "common/simd.h"
#include "conv/winograd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

constexpr int VN = VecF::N;
// Weight panels of NV vectors of output channels; the product's micro-tile is NT(NV) tiles x
// NV vectors, about as many accumulators as the registers allow.
#if defined(PYINFER_ISA_AVX512)
constexpr int MAX_NV = 4, ACC = 24;  // of 32 registers
#elif defined(PYINFER_ISA_AVX2)
constexpr int MAX_NV = 2, ACC = 12;  // of 16
#else
constexpr int MAX_NV = 1, ACC = 4;
#endif
template <int nv>
constexpr int tiles_per_step() { return ACC / nv < 12 ? ACC / nv : 12; }

void transpose(const float* src, int64_t lds, int64_t rows, int64_t rows_pad, int64_t cols, float* dst,
               int64_t ldd) {
  VecF r[VN];
  for (int64_t j0 = 0; j0 < cols; j0 += VN) {
    const int nj = cols - j0 < VN ? static_cast<int>(cols - j0) : VN;
    for (int64_t i0 = 0; i0 < rows_pad; i0 += VN) {
      const int64_t left = rows - i0;
      const int ni = left <= 0 ? 0 : left < VN ? static_cast<int>(left) : VN;
      const int np = rows_pad - i0 < VN ? static_cast<int>(rows_pad - i0) : VN;
      for (int t = 0; t < VN; ++t) {
        const float* s = src + (i0 + t) * lds + j0;
        r[t] = t >= ni ? VecF::zero() : nj == VN ? VecF::load(s) : VecF::load_partial(s, nj);
      }
      transpose_block(r);
      for (int c = 0; c < nj; ++c) {
        float* d = dst + (j0 + c) * ldd + i0;
        if (np == VN)
          r[c].store(d);
        else
          r[c].store_partial(d, np);
      }
    }
  }
}

// q = B^T d for one line of six: rows of B^T are
//   [4 0 -5 0 1 0] [0 -4 -4 1 1 0] [0 4 -4 -1 1 0] [0 -2 -1 2 1 0] [0 2 -1 -2 1 0] [0 4 0 -5 0 1]
inline void bt_line(const VecF* d, VecF* q) {
  const VecF m4 = VecF::set1(-4.f), m5 = VecF::set1(-5.f), p4 = VecF::set1(4.f), two = VecF::set1(2.f);
  const VecF t1 = fmadd(m4, d[2], d[4]), t2 = fmadd(m4, d[1], d[3]);
  const VecF t3 = d[4] - d[2], t4 = two * (d[3] - d[1]);
  q[0] = fmadd(p4, d[0], fmadd(m5, d[2], d[4]));
  q[1] = t1 + t2;
  q[2] = t1 - t2;
  q[3] = t3 + t4;
  q[4] = t3 - t4;
  q[5] = fmadd(p4, d[1], fmadd(m5, d[3], d[5]));
}

// o = A^T m for one line of six: rows of A^T are
//   [1 1 1 1 1 0] [0 1 -1 2 -2 0] [0 1 1 4 4 0] [0 1 -1 8 -8 1]
inline void at_line(const VecF* m, VecF* o) {
  const VecF a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
  o[0] = m[0] + a + c;
  o[1] = fmadd(VecF::set1(2.f), d, b);
  o[2] = fmadd(VecF::set1(4.f), c, a);
  o[3] = fmadd(VecF::set1(8.f), d, b) + m[5];
}

void input_transform(const float* xt, int64_t ldrow, int64_t Cp, const int64_t* toff, int64_t n, float* v,
                     int64_t ldf) {
  VecF d[6], q[6][6], col[6], out[6];
  for (int64_t i = 0; i < n; ++i) {
    const float* base = xt + toff[i];
    float* vi = v + i * Cp;
    for (int64_t c0 = 0; c0 < Cp; c0 += VN) {
      for (int r = 0; r < 6; ++r) {
        for (int j = 0; j < 6; ++j) d[j] = VecF::load(base + r * ldrow + j * Cp + c0);
        bt_line(d, q[r]);
      }
      for (int g = 0; g < 6; ++g) {
        for (int r = 0; r < 6; ++r) col[r] = q[r][g];
        bt_line(col, out);
        for (int f = 0; f < 6; ++f) out[f].store(vi + (f * 6 + g) * ldf + c0);
      }
    }
  }
}

// m[t * Kp + j * VN + lane] = sum_c v[t * Cp + c] * u[c * pw + j * VN + lane] for nt tiles,
// pw = nv * VN.
template <int nt, int nv>
inline void multiply_tile(const float* v, int64_t Cp, const float* u, float* m, int64_t Kp) {
  VecF acc[nt][nv];
  for (int t = 0; t < nt; ++t)
    for (int j = 0; j < nv; ++j) acc[t][j] = VecF::zero();
  for (int64_t c = 0; c < Cp; ++c) {
    VecF w[nv];
    for (int j = 0; j < nv; ++j) w[j] = VecF::load(u + c * nv * VN + j * VN);
    for (int t = 0; t < nt; ++t) {
      const VecF b = VecF::set1(v[t * Cp + c]);
      for (int j = 0; j < nv; ++j) acc[t][j] = fmadd(b, w[j], acc[t][j]);
    }
  }
  for (int t = 0; t < nt; ++t)
    for (int j = 0; j < nv; ++j) acc[t][j].store(m + t * Kp + j * VN);
}

// The last nt < NT tiles: the instance for exactly nt.
template <int nt, int nv>
inline void multiply_tail(int64_t left, const float* v, int64_t Cp, const float* u, float* m, int64_t Kp) {
  if constexpr (nt > 0) {
    if (left == nt) return multiply_tile<nt, nv>(v, Cp, u, m, Kp);
    multiply_tail<nt - 1, nv>(left, v, Cp, u, m, Kp);
  }
}

template <int nv>
void multiply_nv(const float* v, int64_t ldf, int64_t n, int64_t Cp, const float* u, int64_t Kp, float* m,
                 int64_t ldm, int f0, int f1, int64_t p0, int64_t p1) {
  constexpr int NT = tiles_per_step<nv>(), PW = nv * VN;
  const int64_t panels = Kp / PW;
  for (int f = f0; f < f1; ++f) {
    const float* vf = v + f * ldf;
    float* mf = m + f * ldm;
    // Panels outer: one panel of U_f (Cp x PW) stays in L1 while the tiles pass.
    for (int64_t p = p0; p < p1; ++p) {
      const float* up = u + (f * panels + p) * Cp * PW;
      int64_t t = 0;
      for (; t + NT <= n; t += NT) multiply_tile<NT, nv>(vf + t * Cp, Cp, up, mf + t * Kp + p * PW, Kp);
      multiply_tail<NT - 1, nv>(n - t, vf + t * Cp, Cp, up, mf + t * Kp + p * PW, Kp);
    }
  }
}

void multiply(const float* v, int64_t ldf, int64_t n, int64_t Cp, const float* u, int64_t Kp, int pw, float* m,
              int64_t ldm, int f0, int f1, int64_t p0, int64_t p1) {
  if (MAX_NV >= 4 && pw == 4 * VN) return multiply_nv<MAX_NV >= 4 ? 4 : 1>(v, ldf, n, Cp, u, Kp, m, ldm, f0, f1, p0, p1);
  if (MAX_NV >= 2 && pw == 2 * VN) return multiply_nv<MAX_NV >= 2 ? 2 : 1>(v, ldf, n, Cp, u, Kp, m, ldm, f0, f1, p0, p1);
  multiply_nv<1>(v, ldf, n, Cp, u, Kp, m, ldm, f0, f1, p0, p1);
}

void output_transform(const float* m, int64_t ldm, int64_t Kp, int64_t n, const int64_t* yoff, float* yb,
                      int64_t ldrow) {
  VecF line[6], r[6][4], col[6], out[4];
  for (int64_t i = 0; i < n; ++i) {
    const float* mi = m + i * Kp;
    float* base = yb + yoff[i];
    for (int64_t k0 = 0; k0 < Kp; k0 += VN) {
      for (int f = 0; f < 6; ++f) {
        for (int g = 0; g < 6; ++g) line[g] = VecF::load(mi + (f * 6 + g) * ldm + k0);
        at_line(line, r[f]);
      }
      for (int j = 0; j < 4; ++j) {
        for (int f = 0; f < 6; ++f) col[f] = r[f][j];
        at_line(col, out);
        for (int rr = 0; rr < 4; ++rr) out[rr].store(base + rr * ldrow + j * Kp + k0);
      }
    }
  }
}

// u (layout of winograd.h) for input channels [c0, c1) from wt[(c * 9 + tap) * Kp + k] (each
// tap's output channels contiguous, zero past K): U = G g G^T, vectors of output channels.
void transform_weights(const float* wt, int64_t Kp, int pw, int64_t Cp, int64_t c0, int64_t c1, float* u) {
  // G (6 x 3) for the points 0, 1, -1, 2, -2 and infinity
  static const float G[6][3] = {{1.f / 4, 0, 0},           {-1.f / 6, -1.f / 6, -1.f / 6},
                                {-1.f / 6, 1.f / 6, -1.f / 6}, {1.f / 24, 1.f / 12, 1.f / 6},
                                {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};
  const int64_t panels = Kp / pw;
  VecF g[9], gt[6][3];
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t k0 = 0; k0 < Kp; k0 += VN) {
      for (int t = 0; t < 9; ++t) g[t] = VecF::load(wt + (c * 9 + t) * Kp + k0);
      for (int f = 0; f < 6; ++f)
        for (int b = 0; b < 3; ++b)
          gt[f][b] = fmadd(VecF::set1(G[f][0]), g[b], fmadd(VecF::set1(G[f][1]), g[3 + b], VecF::set1(G[f][2]) * g[6 + b]));
      float* uk = u + ((k0 / pw) * Cp + c) * pw + k0 % pw;
      for (int f = 0; f < 6; ++f)
        for (int h = 0; h < 6; ++h) {
          const VecF v = fmadd(gt[f][0], VecF::set1(G[h][0]), fmadd(gt[f][1], VecF::set1(G[h][1]), gt[f][2] * VecF::set1(G[h][2])));
          v.store(uk + (f * 6 + h) * panels * Cp * pw);
        }
    }
  }
}

}  // namespace

extern const WinogradKernels winograd_table = {VN, MAX_NV, transpose, input_transform, multiply, output_transform, transform_weights};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
