"""Reporting: the runner's results read back, statistics, the paper's tables, figures, the page.

Modules
-------
resultsio
    :func:`load_results` / :func:`prepare_results`: every column's type, unique keys and
    comparable grids checked (:mod:`.checks`), keys ordered as the registries list them; the
    sanity-check results.
stats
    Bootstrap confidence intervals, paired tests (Wilcoxon with an explicit method per test),
    Holm's correction.
tables
    :class:`MetricTable` / :func:`metric_table`: means, CIs, undefined and degenerate counts,
    best/worst, tests against the runner-up and the baselines.
paper
    The paper's set: summary (held-out mask selection), per method, per mask, correct vs
    incorrect, per condition, ground truth, faithfulness.
plots
    The page's seaborn figures.
tablefmt
    Text, CSV, LaTeX and HTML rendering.
report
    :func:`write_tables`: every file and the HTML page, step by step.
workers
    The forked worker processes that compute tables and draw figures side by side.
"""
