"""The report over evaluated models: the tidy and wide tables of one or more stores and one self-contained HTML page
(:mod:`jaxquba.report.interactive`); ``python -m jaxquba.report`` is its command line."""
