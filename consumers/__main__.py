"""`python -m consumers` / `consumers`: see consumers.cli."""

import sys

from consumers.cli import main

if __name__ == "__main__":
    sys.exit(main())
