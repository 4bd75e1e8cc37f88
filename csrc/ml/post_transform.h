// What the ai.onnx.ml predictors (trees, linear models, SVMs) do to their scores, as onnxruntime
// does it (ml_common.h there): post-transforms, the "second class" of a one-score two-class model,
// argmax. Everything in double; the outputs are rounded once when stored.
#pragma once
#include <cstdint>
#include <string>

namespace pyinfer {
namespace ml {

enum class PostTransform : int8_t { None, Softmax, Logistic, SoftmaxZero, Probit };

// "NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"; throws std::invalid_argument otherwise.
PostTransform parse_post_transform(const std::string& name, const char* op);

double probit(double s);  // sqrt(2) * erfinv(2s - 1)
double logistic(double s);

// The post-transform over one row of k scores, in place.
void transform_row(double* s, int64_t k, PostTransform post);

// One score s -> two columns out[0], out[1] (onnxruntime's add_second_class), by mode:
// -1: [s, 0]; 0, 1: [1 - s, s] (s is a probability); 2, 3: [-s, s], or under LOGISTIC
// [logistic(-s), logistic(s)]. PROBIT: [probit(s), 0] whatever the mode.
void expand_binary(double s, PostTransform post, int mode, double* out);

// numpy.argmax: the first largest score; a NaN wins.
int64_t argmax(const double* s, int64_t k);

}  // namespace ml
}  // namespace pyinfer
