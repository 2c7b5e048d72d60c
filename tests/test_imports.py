"""Every module of the package and the converters imports in one process.

Command-line modules that share flag names with the app (``--model``, ``--data_dir``) must define their flags only
when they run; otherwise whichever module a test imports second fails with absl's DuplicateFlagError, depending on
test order.
"""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

IMPORT_ALL = """
import importlib, pkgutil
import converters, jaxquba
names = [m.name for pkg in (jaxquba, converters)
         for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
for name in sorted(names):
    importlib.import_module(name)
print(len(names))
"""


def test_all_modules_import_together():
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) > 20
