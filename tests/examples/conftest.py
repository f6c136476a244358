"""The examples import their shared helpers (`examples/_common.py`) as scripts do.

`python examples/<name>.py` puts `examples/` first on `sys.path`; the tests
import the scripts with `tests.conftest.load_example`, so it goes there too.
"""

import sys

from tests.conftest import ROOT

_EXAMPLES = str(ROOT / "examples")
if _EXAMPLES not in sys.path:
    sys.path.insert(0, _EXAMPLES)
