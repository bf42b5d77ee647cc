"""``python -m datasets.resize ...``: the command line (``datasets.resize.cli``; usage in ``datasets.resize``)."""

import sys

from datasets.resize.cli import main

if __name__ == "__main__":
    sys.exit(main())
