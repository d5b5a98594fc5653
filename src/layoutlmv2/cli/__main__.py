"""``python -m layoutlmv2.cli`` runs the ``layoutlmv2`` command."""

import sys

from .main import main

sys.exit(main())
