"""``python -m codeyard``: the same as the ``codeyard`` command."""

from codeyard.cli.main import main

main()
