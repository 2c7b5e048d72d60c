"""Critical-band channel fit (PROTOCOLS.md P2.3): thresholds, Gaussian fit, bandwidth / centre frequency / PNS.

Input is the accuracy matrix of the 29 critical-band passes, in percent, shaped (5 noise levels, 7 frequencies):
row 0 is the clean (sigma = 0) condition, rows 1..4 are sigma = 0.02, 0.04, 0.08, 0.16; column f is frequency
index f (0 = coarsest). The clean pass is one pass, so row 0 holds the same value in every column.

Per frequency, the *threshold index* counts the noise levels, from the highest downwards, at which accuracy is not
above the threshold (50 %): walk j = 0..4 over rows 4 - j and stop at the first row above it (j = 4 when none is).
A Gaussian ``g(x) = A exp(-(x - mu)^2 / (2 s^2))`` is fitted to (frequency index, threshold index) with
``scipy.optimize.curve_fit`` from p0 = (1, 0, 1) with A bounded to [0, 4], and gives

* bandwidth ``bw = 2 sqrt(ln 4) s`` (the full width at half maximum, in octaves),
* centre frequency ``cf = 1.75 * 2**mu`` (cycles per image),
* peak noise sensitivity ``pns = 2**(A - 4)``.

The ``_norm`` variant runs the same fit on accuracies divided by the clean accuracy (so the threshold is half the
clean accuracy). The study's post-processing is not published; this reading is the spec's inference, and it
reproduces every (bw_norm, cf_norm, pns_norm) triple of the published table from an integer threshold vector
(tests/test_generalization_band_fit.py).

Two modes (``mode``):

* ``p2_paper``: the published computation as it is. Flat thresholds (the same index at every frequency, e.g. a
  model that never reaches 50 %) leave the Gaussian unidentifiable; curve_fit then drifts to a huge width and
  returns what the study's table holds as failure values (bw = 11295.35, pns = 0.99999 for all-4 thresholds; cf
  is the least determined parameter and depends on scipy's optimizer: 4247.37 published, ~3682 with scipy 1.17).
  The width ``s`` is unbounded in sign, so bw is ``2 sqrt(ln 4) s`` with the sign the fit returns.
* ``corrected``: flat thresholds (and fits curve_fit cannot finish) give NaN values with ``failed = True``
  instead of sentinel numbers, and bw uses ``|s|`` (the Gaussian is symmetric in the sign of s).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Mapping

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from jaxquba.errors import UserError

NOISE_LEVELS = (0.0, 0.02, 0.04, 0.08, 0.16)
NUM_FREQUENCIES = 7
THRESHOLD_PERCENT = 50.0
MODES = ("p2_paper", "corrected")
_P0 = (1.0, 0.0, 1.0)
_BOUNDS = ((0.0, -np.inf, -np.inf), (4.0, np.inf, np.inf))
_FWHM_PER_SIGMA = 2.0 * math.sqrt(math.log(4.0))
_LOWEST_CENTRE = 1.75  # cycles/image at frequency index 0; bands are an octave apart


@dataclasses.dataclass(frozen=True)
class BandFit:
    """One critical-band fit: the thresholds, the Gaussian's parameters and the channel properties.

    ``failed`` is True where the Gaussian is not identifiable (flat thresholds) or curve_fit did not finish; in
    ``p2_paper`` mode the values are then the published computation's failure values, in ``corrected`` mode NaN.
    """

    thresholds: tuple[int, ...]
    amplitude: float
    mu: float
    sigma: float
    bw: float
    cf: float
    pns: float
    failed: bool


def accuracy_matrix(clean: float, noisy: Mapping[tuple[int, float], float]) -> np.ndarray:
    """The (5, 7) matrix from the clean accuracy and ``{(frequency, sigma): accuracy}`` of the 28 noisy passes."""
    matrix = np.empty((len(NOISE_LEVELS), NUM_FREQUENCIES))
    matrix[0] = clean
    missing = [(f, s) for s in NOISE_LEVELS[1:] for f in range(NUM_FREQUENCIES) if (f, s) not in noisy]
    if missing:
        raise UserError(f"critical band needs all {NUM_FREQUENCIES * 4} noisy passes; missing (frequency, sigma) "
                        f"{missing[:4]}{'...' if len(missing) > 4 else ''}")
    for row, sigma in enumerate(NOISE_LEVELS[1:], start=1):
        matrix[row] = [noisy[(f, sigma)] for f in range(NUM_FREQUENCIES)]
    return matrix


def threshold_indices(accuracy: np.ndarray, threshold: float = THRESHOLD_PERCENT) -> np.ndarray:
    """Per frequency, the first j (walking rows 4, 3, ..., 0) whose accuracy is above ``threshold``; 4 if none."""
    accuracy = _check_matrix(accuracy)
    rows = len(NOISE_LEVELS)
    above = accuracy[::-1] > threshold  # row j is noise level 4 - j
    first = np.argmax(above, axis=0)
    return np.where(above.any(axis=0), first, rows - 1).astype(int)


def fit_gaussian(thresholds: np.ndarray) -> tuple[float, float, float]:
    """(A, mu, s) of the least-squares Gaussian through (0..6, thresholds), as the published fit computes it."""
    x = np.arange(len(thresholds), dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)  # flat data: the covariance is not estimable
        (amplitude, mu, sigma), _ = curve_fit(_gaussian, x, np.asarray(thresholds, float), p0=_P0, bounds=_BOUNDS)
    return float(amplitude), float(mu), float(sigma)


def band_fit(accuracy: np.ndarray, *, normalise: bool, mode: str = "corrected") -> BandFit:
    """The channel fit of an accuracy matrix (percent, (5, 7)); ``normalise`` divides by the clean accuracy first."""
    if mode not in MODES:
        raise UserError(f"unknown critical-band mode {mode!r}; use one of {', '.join(MODES)}")
    accuracy = _check_matrix(accuracy)
    if normalise:
        clean = accuracy[0]
        if np.any(clean <= 0) and mode == "corrected":
            return _failed(np.full(NUM_FREQUENCIES, len(NOISE_LEVELS) - 1))
        with np.errstate(divide="ignore", invalid="ignore"):  # p2_paper: 0/0 is NaN, never above the threshold
            accuracy = 100.0 * accuracy / clean
    thresholds = threshold_indices(accuracy)
    flat = bool(np.all(thresholds == thresholds[0]))
    if flat and mode == "corrected":
        return _failed(thresholds)
    try:
        amplitude, mu, sigma = fit_gaussian(thresholds)
    except RuntimeError:  # curve_fit gave up (maximum function evaluations)
        if mode == "corrected":
            return _failed(thresholds)
        raise
    width = sigma if mode == "p2_paper" else abs(sigma)
    return BandFit(tuple(int(t) for t in thresholds), amplitude, mu, sigma, bw=_FWHM_PER_SIGMA * width,
                   cf=_LOWEST_CENTRE * 2.0 ** mu, pns=2.0 ** (amplitude - 4.0), failed=flat)


def critical_band_metrics(accuracy: np.ndarray, mode: str = "corrected") -> dict[str, float]:
    """``bw, cf, pns`` (raw fit) and ``bw_norm, cf_norm, pns_norm`` (normalised fit), plus ``failed``/``failed_norm``
    (1.0 where that fit failed, else 0.0)."""
    out: dict[str, float] = {}
    for suffix, normalise in (("", False), ("_norm", True)):
        fit = band_fit(accuracy, normalise=normalise, mode=mode)
        out.update({f"bw{suffix}": fit.bw, f"cf{suffix}": fit.cf, f"pns{suffix}": fit.pns,
                    f"failed{suffix}": float(fit.failed)})
    return out


def _gaussian(x, amplitude, mu, sigma):
    return amplitude * np.exp(-((x - mu) ** 2) / (2.0 * sigma ** 2))


def _failed(thresholds: np.ndarray) -> BandFit:
    nan = float("nan")
    return BandFit(tuple(int(t) for t in thresholds), nan, nan, nan, nan, nan, nan, failed=True)


def _check_matrix(accuracy: np.ndarray) -> np.ndarray:
    accuracy = np.asarray(accuracy, dtype=float)
    if accuracy.shape != (len(NOISE_LEVELS), NUM_FREQUENCIES):
        raise UserError(f"critical-band accuracy matrix must be (5 noise levels, 7 frequencies), "
                        f"got {accuracy.shape}")
    return accuracy
