"""`python -m hyco` is the `hyco` command."""

import sys

from hyco.cli import main

sys.exit(main())
