"""Helpers shared by the tests and the benchmarks (reference data location, sample photos, stand-in datasets, the
patched ``imagecorruptions`` reference). Never imported by the app; nothing here is needed by users."""
