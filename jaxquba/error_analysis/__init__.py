"""The error study: automated classification of ImageNet model errors (Peychev et al., NeurIPS 2023; PROTOCOLS.md
P3).

* :mod:`dimensions`: its settings (:class:`~jaxquba.error_analysis.dimensions.ErrorSettings`, study ``errors`` of
  the dimensions' ``Context``) and the ``errors`` dimension;
* :mod:`inputs`, :mod:`wordnet`, :mod:`superclasses`, :mod:`relations`: the multi-label annotations and the class
  relations the rules read;
* :mod:`classify`, :mod:`oov`, :mod:`chooser`, :mod:`analysis`, :mod:`metrics`: the rules (the out-of-vocabulary
  rule's CLIP chooser among them) and the study's statistics;
* :mod:`published`, :mod:`report`: the published models' statistics and the per-model report.
"""
