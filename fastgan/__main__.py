"""`python -m fastgan ...` runs the command line, like the `fastgan` script."""

from fastgan.cli import main

main()
