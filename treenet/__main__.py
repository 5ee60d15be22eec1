"""`python -m treenet` / `treenet`: the demo (parse, train, print, check a network)."""

import sys


def main(argv=None):
    from .demo import run
    return run(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
