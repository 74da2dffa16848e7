"""``python -m factorxray``: the command line."""

from factorxray.cli import main

main()
