"""Quality dimensions: each module registers its :class:`jaxquba.dimensions.base.Dimension` when imported, and
importing this package imports every module, so the registry is complete after ``import jaxquba.dimensions``."""

import importlib
import pkgutil


def _import_modules() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_modules()
