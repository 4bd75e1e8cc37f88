// ONNX NonMaxSuppression: per batch and class, candidates by descending score (ties: lower box
// index first; NaN scores last) popped from a heap, greedy selection against the kept boxes with
// a vectorized IoU scan (iou_isa.cpp); with many candidates the kept boxes are binned by x1 so
// that each scan covers only the boxes it can intersect. The selected count depends on the data:
// non_max_suppression() returns an exact-size array (the op's Python path),
// prepare_non_max_suppression() a kernel for a static plan that compiled one count and raises
// "shape changed" when a run selects another, prepare_non_max_suppression_counted() one for a
// dynamic plan, whose output is bounded and whose run reports the count (a counted output).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/thread_pool.h"
#include "vision/iou.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

struct NmsParams {
  bool center_point_box = false;
  int64_t max_per_class = 0;
  float iou_threshold = 0.f;
  bool has_score_threshold = false;
  float score_threshold = 0.f;
};

struct NmsShape {
  int64_t batches, classes, boxes;
};

NmsShape check_nms_shapes(const std::vector<int64_t>& boxes, const std::vector<int64_t>& scores) {
  PYINFER_CHECK(boxes.size() == 3 && boxes[2] == 4,
                "non_max_suppression: boxes must be (batches, boxes, 4), got " << shape_str(boxes));
  PYINFER_CHECK(scores.size() == 3 && scores[0] == boxes[0] && scores[2] == boxes[1],
                "non_max_suppression: scores must be (" << boxes[0] << ", classes, " << boxes[1] << "), got "
                                                        << shape_str(scores));
  return {boxes[0], scores[1], boxes[1]};
}

void check_params(const NmsParams& p) {
  PYINFER_CHECK(p.iou_threshold >= 0.f && p.iou_threshold <= 1.f,
                "non_max_suppression: iou_threshold must lie in [0, 1], got " << p.iou_threshold);
}

// Corners (y1, x1, y2, x2) with y1 <= y2, x1 <= x2, and areas, of one batch's boxes.
void corners_of(const float* b, int64_t n, bool center, std::vector<float>* c, std::vector<float>* area) {
  c->resize(static_cast<size_t>(n) * 4);
  area->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* q = b + i * 4;
    float y1, x1, y2, x2;
    if (center) {  // (x_center, y_center, width, height)
      y1 = q[1] - q[3] / 2;
      x1 = q[0] - q[2] / 2;
      y2 = q[1] + q[3] / 2;
      x2 = q[0] + q[2] / 2;
    } else {  // (y1, x1, y2, x2), corners in either order
      y1 = std::min(q[0], q[2]);
      x1 = std::min(q[1], q[3]);
      y2 = std::max(q[0], q[2]);
      x2 = std::max(q[1], q[3]);
    }
    float* o = c->data() + i * 4;
    o[0] = y1, o[1] = x1, o[2] = y2, o[3] = x2;
    (*area)[i] = (y2 - y1) * (x2 - x1);
  }
}

// Boxes that can suppress (area > 0), as structure-of-arrays for the vectorized IoU scan.
struct KeptSoA {
  std::vector<float> y1, x1, y2, x2, area;
  void add(const float* c, float a) { y1.push_back(c[0]), x1.push_back(c[1]), y2.push_back(c[2]), x2.push_back(c[3]), area.push_back(a); }
  bool overlaps(const IouKernels& iou, const float* c, float a, float threshold) const {
    const KeptBoxes k{y1.data(), x1.data(), y2.data(), x2.data(), area.data(), static_cast<int64_t>(y1.size())};
    return iou.overlaps_any(k, c[0], c[1], c[2], c[3], a, threshold);
  }
};

// Kept boxes binned by x1 in cells as wide as the widest candidate: a box can only intersect the
// ones whose x1 lies less than a cell left of its own and before its x2, so each candidate scans a
// few cells instead of every kept box. Batched NMS offsets every class to its own region (kept
// counts in the thousands), where this matters. Any other kept box has no intersection, so the
// selection is the same.
class KeptGrid {
 public:
  explicit KeptGrid(float cell) : cell_(cell) {}
  void add(const float* c, float a) { cells_[cell_of(c[1])].add(c, a); }
  bool overlaps(const IouKernels& iou, const float* c, float a, float threshold) const {
    // One cell of margin each side: x1 / cell_ rounds, and a cell is at least the widest box.
    for (int64_t b = cell_of(c[1]) - 2, last = cell_of(c[3]) + 1; b <= last; ++b) {
      auto it = cells_.find(b);
      if (it != cells_.end() && it->second.overlaps(iou, c, a, threshold)) return true;
    }
    return false;
  }

 private:
  int64_t cell_of(float x) const { return static_cast<int64_t>(std::floor(x / cell_)); }
  float cell_;
  std::unordered_map<int64_t, KeptSoA> cells_;
};

// The cell width of a grid for these candidates, or 0 where a plain scan is as good or the
// coordinates do not allow one (non-finite, or too far apart for int64 cells).
float grid_cell(const float* corners, const float* area, int64_t n) {
  constexpr int64_t kMinCandidates = 512;
  if (n < kMinCandidates) return 0.f;
  float widest = 0.f, far = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    const float* c = corners + i * 4;
    if (!(std::isfinite(c[1]) && std::isfinite(c[3]))) return 0.f;
    if (area[i] > 0.f) widest = std::max(widest, c[3] - c[1]);
    far = std::max(far, std::max(std::fabs(c[1]), std::fabs(c[3])));
  }
  if (!(widest > 0.f) || far / widest > 1e15f) return 0.f;
  return widest;
}

// The boxes one class keeps, best first.
void select_class(const float* scores, const float* corners, const float* area, int64_t n, const NmsParams& p,
                  std::vector<int64_t>* kept) {
  struct Candidate {
    float score;
    int64_t index;
  };
  // Max-heap order: higher score first, then lower index; NaN below every number.
  auto below = [](const Candidate& a, const Candidate& b) {
    const bool an = std::isnan(a.score), bn = std::isnan(b.score);
    if (an != bn) return an;
    if (!an && a.score != b.score) return a.score < b.score;
    return a.index > b.index;
  };
  std::vector<Candidate> heap;
  heap.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    if (!p.has_score_threshold || scores[i] > p.score_threshold) heap.push_back({scores[i], i});
  std::make_heap(heap.begin(), heap.end(), below);  // O(n); only the boxes looked at are popped
  const IouKernels& iou = iou_kernels();
  const float cell = grid_cell(corners, area, n);
  KeptSoA all;          // cell == 0: every kept box that can suppress, scanned in full
  KeptGrid grid(cell);  // cell > 0: the same boxes binned by x1
  while (!heap.empty() && static_cast<int64_t>(kept->size()) < p.max_per_class) {
    std::pop_heap(heap.begin(), heap.end(), below);
    const int64_t i = heap.back().index;
    heap.pop_back();
    const float* c = corners + i * 4;
    if (area[i] > 0.f) {  // a box without area is never suppressed and suppresses nothing
      const bool suppressed = cell > 0.f ? grid.overlaps(iou, c, area[i], p.iou_threshold)
                                         : all.overlaps(iou, c, area[i], p.iou_threshold);
      if (suppressed) continue;
      if (cell > 0.f) grid.add(c, area[i]);
      else all.add(c, area[i]);
    }
    kept->push_back(i);
  }
}

// Selected (batch, class, box) triples, flattened: batches, then classes, then best first.
std::vector<int64_t> nms_select(const float* boxes, const float* scores, const NmsShape& s, const NmsParams& p,
                                int num_threads) {
  std::vector<int64_t> out;
  if (p.max_per_class <= 0 || s.boxes == 0) return out;
  std::vector<std::vector<float>> corners(static_cast<size_t>(s.batches)), areas(static_cast<size_t>(s.batches));
  for (int64_t b = 0; b < s.batches; ++b)
    corners_of(boxes + b * s.boxes * 4, s.boxes, p.center_point_box, &corners[b], &areas[b]);
  const int64_t pairs = s.batches * s.classes;
  std::vector<std::vector<int64_t>> kept(static_cast<size_t>(pairs));
  // One (batch, class) per unit of work: most detection graphs have one (classes folded in).
  parallel_for(pairs, pairs > 1 ? num_threads : 1, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / s.classes;
      select_class(scores + u * s.boxes, corners[b].data(), areas[b].data(), s.boxes, p, &kept[u]);
    }
  });
  for (int64_t u = 0; u < pairs; ++u)
    for (int64_t i : kept[u]) out.insert(out.end(), {u / s.classes, u % s.classes, i});
  return out;
}

// A control input: one value (a scalar or a one-element tensor), or the default when absent.
template <class T>
T scalar_input(const void* p, T fallback) {
  return p ? *static_cast<const T*>(p) : fallback;
}

void check_scalar_shape(const std::vector<int64_t>& shape, const char* what) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  PYINFER_CHECK(n == 1, "non_max_suppression: " << what << " must hold one value, got shape " << shape_str(shape));
}

// The builder both plan kernels start from: inputs boxes, scores, max_output_boxes_per_class
// (int64), iou_threshold (float32), score_threshold (float32); the last three optional (empty
// shape list: absent).
KernelBuilder nms_inputs(const std::vector<int64_t>& boxes_shape, const std::vector<int64_t>& scores_shape,
                         const std::vector<std::vector<int64_t>>& control_shapes,
                         const std::vector<bool>& control_present) {
  PYINFER_CHECK(control_shapes.size() == 3 && control_present.size() == 3,
                "non_max_suppression: give the shapes of the three control inputs");
  const char* names[] = {"max_output_boxes_per_class", "iou_threshold", "score_threshold"};
  const DType types[] = {DType::Int64, DType::Float32, DType::Float32};
  KernelBuilder k("non_max_suppression");
  k.input("boxes", boxes_shape).input("scores", scores_shape);
  for (int i = 0; i < 3; ++i) {
    if (control_present[i]) {
      check_scalar_shape(control_shapes[i], names[i]);
      k.input(names[i], control_shapes[i], types[i]);
    } else {
      k.unused_input(names[i], {}, types[i]);
    }
  }
  return k;
}

// The selection a run makes, from the kernel's inputs.
std::vector<int64_t> run_nms(const void* const* in, const NmsShape& s, bool center_point_box, bool has_score,
                             int threads) {
  NmsParams p;
  p.center_point_box = center_point_box;
  p.max_per_class = scalar_input<int64_t>(in[2], 0);
  p.iou_threshold = scalar_input<float>(in[3], 0.f);
  p.has_score_threshold = has_score;
  p.score_threshold = scalar_input<float>(in[4], 0.f);
  check_params(p);
  return nms_select(f32_in(in, 0), f32_in(in, 1), s, p, threads);
}

}  // namespace

// Output selected (int64 [selected, 3]): the count a static plan saw.
PreparedPtr prepare_non_max_suppression(const std::vector<int64_t>& boxes_shape,
                                        const std::vector<int64_t>& scores_shape, bool center_point_box,
                                        const std::vector<std::vector<int64_t>>& control_shapes,
                                        const std::vector<bool>& control_present, int64_t selected) {
  const NmsShape s = check_nms_shapes(boxes_shape, scores_shape);
  PYINFER_CHECK(selected >= 0, "non_max_suppression: negative selected count");
  const bool has_score = control_present.size() == 3 && control_present[2];
  return nms_inputs(boxes_shape, scores_shape, control_shapes, control_present)
      .output("selected", {selected, 3}, DType::Int64)
      .run([=](const void* const* in, void* const* out, int threads) {
        const std::vector<int64_t> sel = run_nms(in, s, center_point_box, has_score, threads);
        PYINFER_CHECK_SHAPE(static_cast<int64_t>(sel.size()) == selected * 3,
                            "non_max_suppression selected " << sel.size() / 3 << " boxes, the plan has " << selected);
        std::memcpy(out[0], sel.data(), sel.size() * sizeof(int64_t));
      });
}

// Outputs selected (int64 [bound, 3], counted) and count (int64 [1]), for a dynamic plan: bound =
// batches x classes x min(boxes, per_class_bound), per_class_bound being what
// max_output_boxes_per_class can be (its value when it is a constant; any count of boxes: -1).
PreparedPtr prepare_non_max_suppression_counted(const std::vector<int64_t>& boxes_shape,
                                                const std::vector<int64_t>& scores_shape, bool center_point_box,
                                                const std::vector<std::vector<int64_t>>& control_shapes,
                                                const std::vector<bool>& control_present, int64_t per_class_bound) {
  const NmsShape s = check_nms_shapes(boxes_shape, scores_shape);
  const int64_t per_class = per_class_bound < 0 ? s.boxes : std::min(per_class_bound, s.boxes);
  const int64_t bound = s.batches * s.classes * per_class;
  const bool has_score = control_present.size() == 3 && control_present[2];
  return nms_inputs(boxes_shape, scores_shape, control_shapes, control_present)
      .output("selected", {bound, 3}, DType::Int64)
      .output("count", {1}, DType::Int64)
      .counted(0, 0, 1)
      .remake([=](const Shapes& shapes) {
        std::vector<std::vector<int64_t>> controls(shapes.begin() + 2, shapes.end());
        return prepare_non_max_suppression_counted(shapes[0], shapes[1], center_point_box, controls,
                                                   control_present, per_class_bound);
      })
      .run([=](const void* const* in, void* const* out, int threads) {
        const std::vector<int64_t> sel = run_nms(in, s, center_point_box, has_score, threads);
        const int64_t n = static_cast<int64_t>(sel.size()) / 3;
        PYINFER_CHECK(n <= bound, "non_max_suppression selected " << n << " boxes, more than max_output_boxes_per_class "
                                                                  "allows (" << bound << ")");
        std::memcpy(out[0], sel.data(), sel.size() * sizeof(int64_t));
        *static_cast<int64_t*>(out[1]) = n;
      });
}

PYINFER_BINDINGS(non_max_suppression, 10) {
  m.def("prepare_non_max_suppression", &prepare_non_max_suppression, py::arg("boxes_shape"), py::arg("scores_shape"),
        py::arg("center_point_box"), py::arg("control_shapes"), py::arg("control_present"), py::arg("selected"),
        "prepare_non_max_suppression(boxes_shape, scores_shape, center_point_box, control_shapes, control_present,\n"
        "selected) -> PreparedKernel for a plan that saw `selected` boxes selected: inputs boxes, scores,\n"
        "max_output_boxes_per_class (int64), iou_threshold, score_threshold (float32; each present or not,\n"
        "one value); output int64 (selected, 3). A run that selects another count raises 'shape changed'.");
  m.def("prepare_non_max_suppression_counted", &prepare_non_max_suppression_counted, py::arg("boxes_shape"),
        py::arg("scores_shape"), py::arg("center_point_box"), py::arg("control_shapes"), py::arg("control_present"),
        py::arg("per_class_bound") = -1,
        "prepare_non_max_suppression_counted(boxes_shape, scores_shape, center_point_box, control_shapes,\n"
        "control_present, per_class_bound=-1) -> PreparedKernel for any count: the inputs of\n"
        "prepare_non_max_suppression; outputs selected, int64 (bound, 3) of which a run fills the first\n"
        "(count, 3), and count (int64 [1]) (a counted output). bound = batches x classes x min(boxes,\n"
        "per_class_bound), per_class_bound: max_output_boxes_per_class when it is a constant, -1 otherwise.");
  m.def(
      "non_max_suppression",
      [](py::handle boxes_obj, py::handle scores_obj, int64_t max_output_boxes_per_class, float iou_threshold,
         py::object score_threshold, bool center_point_box, int num_threads) {
        auto boxes = bind::float_array(boxes_obj, "non_max_suppression: boxes", 3, 3);
        auto scores = bind::float_array(scores_obj, "non_max_suppression: scores", 3, 3);
        const NmsShape s = check_nms_shapes(bind::shape_of(boxes), bind::shape_of(scores));
        NmsParams p;
        p.center_point_box = center_point_box;
        p.max_per_class = max_output_boxes_per_class;
        p.iou_threshold = iou_threshold;
        p.has_score_threshold = !score_threshold.is_none();
        if (p.has_score_threshold) p.score_threshold = score_threshold.cast<float>();
        check_params(p);
        std::vector<int64_t> sel;
        {
          py::gil_scoped_release nogil;
          sel = nms_select(boxes.data(), scores.data(), s, p, num_threads);
        }
        py::array_t<int64_t> out({static_cast<py::ssize_t>(sel.size() / 3), static_cast<py::ssize_t>(3)});
        if (!sel.empty()) std::memcpy(out.mutable_data(), sel.data(), sel.size() * sizeof(int64_t));
        return out;
      },
      py::arg("boxes"), py::arg("scores"), py::arg("max_output_boxes_per_class"), py::arg("iou_threshold") = 0.f,
      py::arg("score_threshold") = py::none(), py::arg("center_point_box") = false, py::arg("num_threads") = 0,
      "non_max_suppression(boxes, scores, max_output_boxes_per_class, iou_threshold=0.0, score_threshold=None,\n"
      "center_point_box=False, num_threads=0) -> int64 (selected, 3) of (batch, class, box): ONNX\n"
      "NonMaxSuppression. boxes float32 (batches, boxes, 4) as (y1, x1, y2, x2) in any corner order, or\n"
      "(x_center, y_center, width, height) with center_point_box; scores float32 (batches, classes, boxes).\n"
      "Per batch and class, boxes by descending score (ties: lower index first) scoring above\n"
      "score_threshold are kept unless their IoU with a kept box exceeds iou_threshold, at most\n"
      "max_output_boxes_per_class of them.");
}

}  // namespace pyinfer
