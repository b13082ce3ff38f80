"""`python -m benchmarks`: the same as `python benchmarks/run_all.py`."""

import sys

from benchmarks.run_all import main

sys.exit(main())
