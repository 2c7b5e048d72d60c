"""The QUBA study ("Beyond Accuracy", PROTOCOLS.md P1): nine quality dimensions of a model and one score.

* :mod:`dimensions`: its settings (:class:`~jaxquba.quba.dimensions.QubaDatasets`, study ``quba`` of the
  dimensions' ``Context``) and the eight dimensions besides accuracy (``--dimensions=all``), reduced with the
  shared :mod:`jaxquba.metrics`;
* :mod:`score`: the QUBA score and ranks among the 326 published models (``python -m jaxquba.quba --table=...``),
  which the run report (:mod:`jaxquba.report`) also shows.
"""
