// pyinfer.kernels.TreeEnsemble, prepare_tree_ensemble and tree_ensemble.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "ml/ml_bindings.h"
#include "ml/tree_ensemble.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

struct PyTreeEnsemble {
  std::shared_ptr<const ml::TreeEnsemble> e;
};

template <class E>
E parse(const std::string& name, const char* what, std::initializer_list<std::pair<const char*, E>> table) {
  for (const auto& [text, value] : table)
    if (name == text) return value;
  PYINFER_CHECK(false, "TreeEnsemble: unknown " << what << " '" << name << "'");
  return table.begin()->second;
}

}  // namespace

PYINFER_BINDINGS(tree_ensemble, 10) {
  using ml::Aggregate;
  using ml::OutputRule;
  py::class_<PyTreeEnsemble>(m, "TreeEnsemble", R"doc(TreeEnsemble(feature, threshold, mode, true_next, false_next, missing_true, roots,
             weight_node, weight_target, weight_value, n_targets, rule='regressor', aggregate='SUM',
             post_transform='NONE', base_values=(), label_values=(), binary_case=False,
             weights_all_positive=True, member_offsets=(), member_values=())

A tree ensemble checked and laid out once for tree_ensemble() / prepare_tree_ensemble(): the
ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor / TreeEnsemble computation.

Nodes are positions in the arrays (n entries each): feature compared, threshold, mode (0 BRANCH_LEQ,
1 LT, 2 GTE, 3 GT, 4 EQ, 5 NEQ, 6 LEAF, 7 BRANCH_MEMBER: x in the node's set, member_values
[member_offsets[i]:member_offsets[i+1]]), true_next / false_next (child positions), missing_true
(a NaN feature goes to the true child). roots: one node per tree, in summation order. Leaf weights:
weight_node / weight_target / weight_value triples. Checked: children in range, no cycles, weights
on existing nodes and targets.

rule: 'regressor' (y float32 [N, n_targets]), 'classifier' (label int64 [N]: label_values[class],
scores float32 [N, n_targets or 2]) or 'ensemble' (ml opset 5: y [N, n_targets] in X's type).
Scores are summed per row in tree order, in double; onnxruntime's output rules (base values,
two-class cases, post-transforms NONE / SOFTMAX / LOGISTIC / SOFTMAX_ZERO / PROBIT).)doc")
      .def(py::init([](py::handle feature, py::handle threshold, py::handle mode, py::handle true_next,
                       py::handle false_next, py::handle missing_true, py::handle roots, py::handle weight_node,
                       py::handle weight_target, py::handle weight_value, int64_t n_targets, const std::string& rule,
                       const std::string& aggregate, const std::string& post, py::handle base_values,
                       py::handle label_values, bool binary_case, bool weights_all_positive,
                       py::handle member_offsets, py::handle member_values) {
             ml::TreeEnsembleDef d;
             d.feature = ml::vector_of<int64_t>(feature, "TreeEnsemble", "feature");
             d.threshold = ml::vector_of<double>(threshold, "TreeEnsemble", "threshold");
             d.mode = ml::vector_of<int8_t>(mode, "TreeEnsemble", "mode");
             d.true_next = ml::vector_of<int64_t>(true_next, "TreeEnsemble", "true_next");
             d.false_next = ml::vector_of<int64_t>(false_next, "TreeEnsemble", "false_next");
             d.missing_true = ml::vector_of<uint8_t>(missing_true, "TreeEnsemble", "missing_true");
             d.roots = ml::vector_of<int64_t>(roots, "TreeEnsemble", "roots");
             d.weight_node = ml::vector_of<int64_t>(weight_node, "TreeEnsemble", "weight_node");
             d.weight_target = ml::vector_of<int64_t>(weight_target, "TreeEnsemble", "weight_target");
             d.weight_value = ml::vector_of<double>(weight_value, "TreeEnsemble", "weight_value");
             d.member_offsets = ml::vector_of<int64_t>(member_offsets, "TreeEnsemble", "member_offsets");
             d.member_values = ml::vector_of<double>(member_values, "TreeEnsemble", "member_values");
             d.base_values = ml::vector_of<double>(base_values, "TreeEnsemble", "base_values");
             d.label_values = ml::vector_of<int64_t>(label_values, "TreeEnsemble", "label_values");
             d.n_targets = n_targets;
             d.rule = parse<OutputRule>(rule, "rule", {{"regressor", OutputRule::Regressor},
                                                       {"classifier", OutputRule::Classifier},
                                                       {"ensemble", OutputRule::Ensemble}});
             d.aggregate = parse<Aggregate>(aggregate, "aggregate", {{"SUM", Aggregate::Sum},
                                                                    {"AVERAGE", Aggregate::Average},
                                                                    {"MIN", Aggregate::Min},
                                                                    {"MAX", Aggregate::Max}});
             d.post = ml::parse_post_transform(post, "TreeEnsemble");
             d.binary_case = binary_case;
             d.weights_all_positive = weights_all_positive;
             py::gil_scoped_release nogil;
             return PyTreeEnsemble{ml::make_tree_ensemble(std::move(d))};
           }),
           py::arg("feature"), py::arg("threshold"), py::arg("mode"), py::arg("true_next"), py::arg("false_next"),
           py::arg("missing_true"), py::arg("roots"), py::arg("weight_node"), py::arg("weight_target"),
           py::arg("weight_value"), py::arg("n_targets"), py::arg("rule") = "regressor",
           py::arg("aggregate") = "SUM", py::arg("post_transform") = "NONE",
           py::arg("base_values") = py::tuple(), py::arg("label_values") = py::tuple(),
           py::arg("binary_case") = false, py::arg("weights_all_positive") = true,
           py::arg("member_offsets") = py::tuple(), py::arg("member_values") = py::tuple())
      .def_property_readonly(
          "info",
          [](const PyTreeEnsemble& p) {
            const ml::TreeEnsembleInfo i = ml::describe(*p.e);
            py::dict d;
            d["trees"] = i.trees, d["nodes"] = i.nodes, d["leaves"] = i.leaves, d["features"] = i.features;
            d["max_depth"] = i.max_depth, d["outputs"] = i.outputs, d["walk"] = i.walk;
            return d;
          },
          "{'trees', 'nodes' (reachable), 'leaves', 'features' (X needs at least these columns), 'max_depth',\n"
          "'outputs' (score columns), 'walk' (the mode every branch uses, or 'mixed')}.");

  ml::bind_model_kernel<PyTreeEnsemble>(
      m, "tree_ensemble", [](const PyTreeEnsemble& p, const std::vector<int64_t>& shape, DType t) {
        return ml::prepare_tree_ensemble(p.e, shape, t);
      },
      "(label, scores) of a classifier, y otherwise");
}

}  // namespace pyinfer
