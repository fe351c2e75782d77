"""``python -m relukit bench`` times relukit against NumPy (and PyTorch); ``info`` shows the build."""

import argparse
import sys


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
    bench.add_argument("--sizes", default=",".join(map(str, _bench_defaults("SIZES"))),
                       help="comma-separated element counts (default: %(default)s)")
    bench.add_argument("--dtypes", default=",".join(_bench_defaults("DTYPES")),
                       help="comma-separated dtypes (default: %(default)s)")
    bench.add_argument("--peers", default=",".join(_bench_defaults("PEERS")),
                       help="comma-separated peers to time, each skipped when not installed "
                            "(default: %(default)s)")
    bench.add_argument("--threads", type=int, default=None,
                       help="threads for relukit, PyTorch and numexpr alike (default: each "
                            "library's own)")
    bench.add_argument("--json", metavar="FILE", help="also write every row to FILE as JSON")
    bench.add_argument("--plot", metavar="FILE.png",
                       help="also plot GB/s against size with the copy ceiling (needs matplotlib)")
    commands.add_parser("info", help="version, SIMD level, OpenMP runtime, threads")
    args = parser.parse_args(argv)

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
        if args.threads is not None and args.threads < 1:
            parser.error("--threads must be at least 1")
        sizes = [int(float(n)) for n in args.sizes.split(",")]
        _bench.main(ops, sizes, args.dtypes.split(","), quick=args.quick, peers=peers,
                    threads=args.threads, json_path=args.json, plot_path=args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
