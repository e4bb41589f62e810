"""`python -m pytti_nb`: the command line."""

import sys

from .cli import main

sys.exit(main())
