// IoU of one box against every kept box, a vector of kept boxes at a time, stopping at the
// first vector with an overlap above the threshold.
#include "common/simd.h"
#include "vision/iou.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {

static bool overlaps_any(const KeptBoxes& k, float y1, float x1, float y2, float x2, float area, float threshold) {
  const VecF by1 = VecF::set1(y1), bx1 = VecF::set1(x1), by2 = VecF::set1(y2), bx2 = VecF::set1(x2);
  const VecF barea = VecF::set1(area), thr = VecF::set1(threshold), zero = VecF::zero(), one = VecF::set1(1.0f);
  for (int64_t i = 0; i < k.count; i += VecF::N) {
    const int n = k.count - i < VecF::N ? static_cast<int>(k.count - i) : VecF::N;
    const VecF ih = vmin(VecF::load_partial(k.y2 + i, n), by2) - vmax(VecF::load_partial(k.y1 + i, n), by1);
    const VecF iw = vmin(VecF::load_partial(k.x2 + i, n), bx2) - vmax(VecF::load_partial(k.x1 + i, n), bx1);
    const VecF inter = vmax(ih, zero) * vmax(iw, zero);
    // Padding lanes have area 0 and no intersection: union = area > 0, IoU 0.
    const VecF iou = inter / (barea + VecF::load_partial(k.area + i, n) - inter);
    if (vselect_gt(iou, thr, one, zero).hmax() > 0.0f) return true;
  }
  return false;
}

extern const IouKernels iou_kernels_table = {overlaps_any};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
