"""The engine benchmark as a script: same as `actbench bench`, same options.

python benchmarks/engine.py                      # CPU, the reference setup
python benchmarks/engine.py --device cuda --format json
"""

import sys

from actbench.cli import main

if __name__ == "__main__":
    main(["bench", *sys.argv[1:]])
