"""``python -m relukit bench`` times relukit against NumPy (and PyTorch); ``info`` shows the build."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m relukit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="time relukit against NumPy and PyTorch")
    bench.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    commands.add_parser("info", help="version, SIMD level, OpenMP runtime, threads")
    args = parser.parse_args(argv)

    import relukit

    if args.command == "info":
        relukit.show_config()
    else:
        from relukit import _bench

        _bench.main(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
