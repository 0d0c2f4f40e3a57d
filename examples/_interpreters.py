"""Which Python runs each framework in the side-by-side benchmark scripts.

Frameworks often live in virtual environments of their own (TensorFlow and PyTorch pin
different NumPy versions); ``--python keras=/path/to/venv/bin/python`` points a framework at its
interpreter. Without it the script's own interpreter is used.
"""

import subprocess
import sys


def add_option(parser):
    parser.add_argument(
        "--python", action="append", default=[], metavar="FRAMEWORK=PATH",
        help="interpreter for one framework, e.g. keras=/venvs/tf/bin/python (repeatable)")


def parse(pairs):
    """{framework: interpreter path} from the ``--python`` values."""
    out = {}
    for pair in pairs:
        name, _, path = pair.partition("=")
        if not name or not path:
            raise SystemExit(f"--python expects FRAMEWORK=PATH; received {pair!r}")
        out[name] = path
    return out


def has_modules(python, modules):
    """True if ``python`` can import every module in ``modules``."""
    code = "; ".join(f"import importlib.util as u; assert u.find_spec({m!r})" for m in modules)
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def python_for(framework, chosen):
    return chosen.get(framework, sys.executable)
