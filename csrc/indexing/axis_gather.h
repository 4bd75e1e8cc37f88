// Picking elements along several axes at once: y[i] = x[index_0(i_0), index_1(i_1), ...], or a
// fill value where a picked position is flagged outside. Resize's nearest mode and Pad (every
// mode: constant fills, edge / reflect / wrap pick) are this one kernel with their own tables.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/prepared.h"

namespace pyinfer {

// One picked axis: the output's length along it is index.size(); outside is empty or of the
// same length (true: the position takes the fill value).
struct AxisPick {
  int64_t axis = 0;
  std::vector<int64_t> index;
  std::vector<bool> outside;
};

// Input x (x_shape, dtype); output x with every picked axis replaced by its picks. fill: the
// bytes of one element (dtype_size(dtype) of them); op: the kernel's name.
PreparedPtr prepare_axis_gather(const char* op, const std::vector<int64_t>& x_shape, DType dtype,
                                std::vector<AxisPick> picks, const std::string& fill);

}  // namespace pyinfer
