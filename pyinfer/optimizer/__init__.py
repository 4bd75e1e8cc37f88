"""The graph optimizer: rewrites a model before it runs (see docs/OPTIMIZER.md).

    from pyinfer.optimizer import optimize
    optimized_model, report = optimize(model, GraphOptimizationLevel.ORT_ENABLE_ALL)

One module per pass (each exposes NAME and run(WorkGraph) -> number of rewrites);
driver.py runs them to a fixed point in a defined order.
"""
from .driver import PASSES, OptimizationReport, op_histogram, optimize, optimize_parts, passes_for  # noqa: F401
