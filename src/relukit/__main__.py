"""``python -m relukit bench`` times relukit against NumPy (and PyTorch); ``info`` shows the build."""

import argparse
import importlib.util
import os
import sys

DTYPES = ("float16", "float32", "float64")


def _sizes(text):
    """Comma-separated positive element counts, 1e7 spelling allowed."""
    sizes = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r} is not a number") from None
        if not (value.is_integer() and 1 <= value <= 1 << 40):
            raise argparse.ArgumentTypeError(f"{item!r} is not a whole number from 1 to 2**40")
        sizes.append(int(value))
    return sizes


def _dtypes(text):
    dtypes = text.split(",")
    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown dtypes {unknown}; choose from {', '.join(DTYPES)}")
    return dtypes


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _writable(path):
    """A file the run can write at its end: refused now rather than after minutes of timing."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {path!r}: {folder} is not a writable folder")
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"cannot write {path!r}: it is a folder")
    return path


def _bench_defaults(name):
    from relukit import _bench    # numpy only: cheap, and keeps `--help` honest about defaults

    return getattr(_bench, name)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m relukit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="time relukit against NumPy and PyTorch")
    bench.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    bench.add_argument("--ops", default=",".join(_bench_defaults("CORE_OPS")),
                       help="comma-separated ops, or 'all' (default: %(default)s)")
    bench.add_argument("--sizes", type=_sizes, default=",".join(map(str, _bench_defaults("SIZES"))),
                       help="comma-separated element counts (default: %(default)s)")
    bench.add_argument("--dtypes", type=_dtypes, default=",".join(_bench_defaults("DTYPES")),
                       help=f"comma-separated dtypes among {', '.join(DTYPES)} "
                            "(default: %(default)s)")
    bench.add_argument("--peers", default=",".join(_bench_defaults("PEERS")),
                       help="comma-separated peers to time, each skipped when not installed "
                            "(default: %(default)s)")
    bench.add_argument("--threads", type=_positive, default=None,
                       help="threads for relukit, PyTorch and numexpr alike (default: each "
                            "library's own)")
    bench.add_argument("--json", metavar="FILE", type=_writable,
                       help="also write every row to FILE as JSON")
    bench.add_argument("--plot", metavar="FILE.png", type=_writable,
                       help="also plot GB/s against size with the copy ceiling (needs matplotlib)")
    commands.add_parser("info", help="version, SIMD level, OpenMP runtime, threads")
    args = parser.parse_args(argv)

    if getattr(args, "plot", None) and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib (pip install matplotlib)")

    import relukit

    if args.command == "info":
        relukit.show_config()
    else:
        from relukit import _bench, _peers

        ops = list(_peers.OPS) if args.ops == "all" else args.ops.split(",")
        unknown = sorted(set(ops) - set(_peers.OPS))
        if unknown:
            parser.error(f"unknown ops {unknown}; choose from {', '.join(_peers.OPS)} or 'all'")
        peers = args.peers.split(",") if args.peers else []
        unknown = sorted(set(peers) - set(_bench.PEERS))
        if unknown:
            parser.error(f"unknown peers {unknown}; choose from {', '.join(_bench.PEERS)}")
        _bench.main(ops, args.sizes, args.dtypes, quick=args.quick, peers=peers,
                    threads=args.threads, json_path=args.json, plot_path=args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
