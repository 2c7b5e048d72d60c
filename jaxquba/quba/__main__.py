"""``python -m jaxquba.quba --table=results.csv``: QUBA scores and published ranks of a table's rows
(:func:`jaxquba.quba.score.main`)."""

import sys

from jaxquba.errors import run_cli
from jaxquba.quba.score import main

if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))
