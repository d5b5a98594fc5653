"""Convert LayoutLMv2 / LayoutXLM checkpoints; the same as the `layoutlmv2-convert` command.

    python weights_convert/convert.py IN OUT [--to original] [--dtype bf16] [--check] ...

See README.md beside this file. Works from a source checkout without installing the package.
"""

import sys
from pathlib import Path

try:
    from layoutlmv2.cli.convert import main
except ImportError:  # a source checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from layoutlmv2.cli.convert import main

if __name__ == "__main__":
    sys.exit(main())
