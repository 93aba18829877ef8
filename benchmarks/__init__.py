"""deformer3d's benchmarks and the paper's studies (not installed with the package; run from a checkout).

    python -m benchmarks --suite cost            # or scaling, data, compile, ablation, ..., studies, summary, all
    make bench SUITE=scaling

Layout: :mod:`benchmarks.runner` (the suites by name), :mod:`benchmarks.common` (timing, memory, machine, result
files), ``suites/`` (one module per measurement suite), ``studies/`` (the paper's studies: catalogue, runs, verdicts,
report), ``configs/`` (the studies' base experiment) and ``results/`` (what the suites wrote; README.md sums it up).
"""
