"""``python -m turborec.serve serve ...`` / ``retrain ...``: the same code as ``turborec serve`` / ``retrain``."""

import argparse
import sys

from .. import _cli_retrain, _cli_serve


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m turborec.serve")
    sub = parser.add_subparsers(dest="command", required=True)
    _cli_serve.add_parser(sub)
    _cli_retrain.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
