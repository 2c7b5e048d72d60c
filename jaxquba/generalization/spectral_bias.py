"""Low-pass / high-pass performance and spectral bias from the 22 filtered passes (PROTOCOLS.md P2.3).

The study logs each filtered pass as a ratio of its accuracy to the clean accuracy (``metric/bandpass/LFC/c`` and
``HFC/c``). LPP and HPP are the means of those ratios over the cutoffs 0.1 ... 0.5; spectral bias is
HPP / (LPP + HPP) (0 = relies on low frequencies only, 1 = on high frequencies only).
"""

from __future__ import annotations

from typing import Mapping

from jaxquba.errors import UserError
from jaxquba.views.spectral import CUTOFFS

SUMMARY_CUTOFFS = (0.1, 0.2, 0.3, 0.4, 0.5)


def column_name(lowpass: bool, cutoff: float) -> str:
    """The study's CSV column of one filtered pass, e.g. ``metric/bandpass/LFC/0.1``."""
    return f"metric/bandpass/{'LFC' if lowpass else 'HFC'}/{cutoff:g}"


def bandpass_ratios(clean_accuracy: float, lowpass: Mapping[float, float], highpass: Mapping[float, float]
                    ) -> dict[str, float]:
    """The 22 filtered accuracies as ratios to the clean accuracy, keyed by the study's column names."""
    if clean_accuracy <= 0:
        raise UserError("band-pass ratios need a positive clean accuracy")
    out = {}
    for is_low, accuracies in ((True, lowpass), (False, highpass)):
        missing = [c for c in CUTOFFS if c not in accuracies]
        if missing:
            raise UserError(f"{'low' if is_low else 'high'}-pass accuracies missing for cutoffs {missing}")
        out.update({column_name(is_low, c): accuracies[c] / clean_accuracy for c in CUTOFFS})
    return out


def lpp(ratios: Mapping[str, float]) -> float:
    """Low-pass performance: mean LFC ratio over cutoffs 0.1 ... 0.5."""
    return _mean([ratios[column_name(True, c)] for c in SUMMARY_CUTOFFS])


def hpp(ratios: Mapping[str, float]) -> float:
    """High-pass performance: mean HFC ratio over cutoffs 0.1 ... 0.5."""
    return _mean([ratios[column_name(False, c)] for c in SUMMARY_CUTOFFS])


def spectral_bias(lpp_value: float, hpp_value: float) -> float:
    """HPP / (LPP + HPP); NaN where both are 0 (no filtered pass classified anything)."""
    total = lpp_value + hpp_value
    return float("nan") if total == 0 else hpp_value / total


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values))
