"""`python -m bench` (what bench/run execs): the benchmark harness."""

import sys

from bench.harness import main

sys.exit(main(sys.argv[1:]))
