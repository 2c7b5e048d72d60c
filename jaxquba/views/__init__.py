"""On-device views: functions image batch -> image batch that the engine runs inside its jitted step.

See :mod:`jaxquba.views.base` for the contract. Families: ``corruptions`` (ImageNet-C), ``attacks`` (FGSM, PGD),
``spectral`` (low/high-pass), ``critical_band`` (octave-band noise).
"""
