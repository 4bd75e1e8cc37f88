#include "common/broadcast.h"

#include "common/check.h"

namespace pyinfer {

std::vector<int64_t> broadcast_shapes(const std::vector<std::vector<int64_t>>& shapes, const char* what) {
  size_t r = 0;
  for (const auto& s : shapes) {
    PYINFER_CHECK(s.size() <= static_cast<size_t>(kMaxBroadcastRank),
                  what << ": ranks above " << kMaxBroadcastRank << " are not supported (shape " << shape_str(s)
                       << ")");
    r = std::max(r, s.size());
  }
  std::vector<int64_t> out(r, 1);
  for (size_t d = 0; d < r; ++d) {
    for (const auto& s : shapes) {
      const int64_t v = d + s.size() >= r ? s[d + s.size() - r] : 1;
      PYINFER_CHECK(v >= 0, what << ": negative dimension in " << shape_str(s));
      if (v == 1) continue;
      PYINFER_CHECK(out[d] == 1 || out[d] == v, what << ": shapes do not broadcast (dimension " << d << ": " << out[d]
                                                     << " vs " << v << " in " << shape_str(s) << ")");
      out[d] = v;
    }
  }
  // A 0 beside a 1 broadcasts to 0: handled above (v == 0 replaces out[d] == 1).
  return out;
}

}  // namespace pyinfer
