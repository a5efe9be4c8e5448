"""`python -m payment_participant [--listen HOST:PORT] [--db PATH]`."""

import sys

from .main import main

sys.exit(main())
