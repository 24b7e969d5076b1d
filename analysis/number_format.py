"""How the reports write numbers: one formatter for a number (:func:`number_text`) and one for a
value with its Monte Carlo standard error (:func:`format_value`).

Every report module (``analysis.report`` and its ``report_*`` sections, ``analysis.sweep``)
writes its numbers through these, so a missing value reads the same everywhere ("—").
"""

from __future__ import annotations

import numpy as np

__all__ = ["MISSING", "PERCENT", "decimals_for_threshold", "format_value", "number_text"]

MISSING = "—"
"""What a table shows for a value that is absent (None) or not finite (NaN, ±inf)."""

PERCENT = "percent"
"""The ``spec`` of :func:`number_text` for a fraction written as a whole percentage ("79 %")."""


def number_text(value: float | None, spec: str = ".3f", *, missing: str = MISSING) -> str:
    """``value`` written with the format spec ``spec``; ``missing`` for None, NaN and ±inf.

    Args:
      value: the number (Python or NumPy scalar), or None.
      spec: a format spec (".3f": three decimals, ".2g": two significant digits, ".0f": an
        integer), or :data:`PERCENT` for a fraction as a whole percentage ("0.79" → "79 %").
      missing: the text for a value that is None or not finite.
    """
    if value is None or not np.isfinite(value):
        return missing
    if spec == PERCENT:
        return f"{100 * value:.0f} %"
    return format(value, spec)


def format_value(value: float, mcse: float) -> str:
    """``value ± MCSE`` with as many digits as the MCSE warrants (two significant digits of it)."""
    if not np.isfinite(value):
        return MISSING
    if not np.isfinite(mcse) or mcse <= 0:
        return f"{value:.4g}"
    digits = max(0, int(-np.floor(np.log10(mcse))) + 1)
    return f"{value:.{digits}f} ± {mcse:.{digits}f}"


def decimals_for_threshold(threshold: float) -> int:
    """Decimals that resolve a coefficient at the significance threshold: one more than the
    threshold's first significant digit needs, at least 2 (0.1 → 2, 0.01 → 3); 3 without one."""
    return max(2, int(-np.floor(np.log10(threshold))) + 1) if threshold > 0 else 3
