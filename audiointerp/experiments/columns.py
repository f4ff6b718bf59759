"""The columns of the results table: what the core writes, the store keeps and the tables read.

One module with no dependencies, so that reading results back (``audiointerp tables``) needs
neither torch nor the grid's data packages.
"""

from __future__ import annotations

#: Identifying columns of the tidy table (the grid prepends ``model, condition, method``).
KEY_COLUMNS = ("model", "condition", "method", "mask", "id")
#: Columns every row carries besides the keys.
CLIP_COLUMNS = ("label", "category", "prediction", "correct", "p", "p_in", "p_out")
#: Fidelity and simplicity metrics, in the paper's order.
METRIC_COLUMNS = ("FF", "AI", "AD", "AG", "FidIn", "SPS", "COMP")
#: Ground-truth metrics, present where the data has stems.
GT_COLUMNS = ("loc_auc", "relevance_mass", "si_sdr", "si_sdri")
#: Per-mask flags: the mask's spread over bins and whether it is (near-)constant.
FLAG_COLUMNS = ("mask_std", "degenerate")
#: Areas under the deletion / insertion curves, one per fill (``faithfulness.FILLS``).
CURVE_COLUMNS = ("deletion_floor", "insertion_floor", "deletion_road", "insertion_road")
#: The tidy table's file name in a results folder.
COMBINED_TABLE = "results.csv"
