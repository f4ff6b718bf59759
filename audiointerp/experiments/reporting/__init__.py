"""Reporting: the runner's results read back, statistics, the paper's tables and their formats.

Modules
-------
resultsio
    :func:`load_results` / :func:`prepare_results` (columns checked, keys ordered as the
    registries list them) and the sanity-check results.
stats
    Bootstrap confidence intervals and paired tests.
tables
    :func:`write_tables`: per method, per mask, correct vs incorrect, per condition, summary,
    ground truth, sanity.
tablefmt
    CSV, LaTeX and the styled HTML page.
"""
