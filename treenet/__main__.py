"""`python -m treenet` / `treenet`: the command (treenet.cli); with no arguments, the demo."""

import sys


def main(argv=None):
    from .cli import main
    return main(argv)


if __name__ == "__main__":
    sys.exit(main())
