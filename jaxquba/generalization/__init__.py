"""The bias study: the generalization study of Gavrikov & Keuper (CVPR 2024; PROTOCOLS.md P2).

* :mod:`dimensions`: its settings (:class:`~jaxquba.generalization.dimensions.P2Datasets`, study ``p2`` of the
  dimensions' ``Context``) and its thirteen dimensions (``--dimensions=p2``);
* :mod:`band_fit`: the critical-band threshold rule and Gaussian channel fit (bw, cf, pns, raw and ``_norm``);
* :mod:`spectral_bias`: LPP, HPP and spectral bias from the 22 low/high-pass passes;
* :mod:`real`: ReaL accuracy, proper and the study's last-batch value;
* :mod:`benchmarks`: the per-benchmark reductions (IN-C 19x5 mean, IN-C-bar 10x5 mean, top-1 in percent);
* :mod:`aggregates`: ID, Robustness, Concepts, Adversarial;
* :mod:`table`: the results table with the published column names and the published 48-model reference;
* :mod:`correlations`: Spearman / Kendall between biases and aggregates, and the heatmap;
* :mod:`report`: the study's report from a run's summary (``python -m jaxquba.generalization.report``).

Units follow the study: accuracies in percent, shape bias and band-pass ratios as fractions.
"""
