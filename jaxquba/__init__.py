"""jaxquba: evaluates how well an ImageNet classifier behaves, not only how accurate it is."""

__version__ = "0.1.0"
