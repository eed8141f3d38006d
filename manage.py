#!/usr/bin/env python
"""Django's command-line utility for the PyFarm master."""

import sys


def main() -> None:
    """Run a management command (start-up errors as one line: pyfarm_site.cli)."""
    from pyfarm_site.cli import main as run

    run(sys.argv)


if __name__ == "__main__":
    main()
