"""The app behind ``python -m jaxquba.main``, split by what it does: :mod:`jaxquba.main` reads the command line and
presets, :mod:`~jaxquba.app.planning` plans the passes, :mod:`~jaxquba.app.running` runs and resumes them and reduces
the outputs, :mod:`~jaxquba.app.printing` prints the table and writes the report."""
