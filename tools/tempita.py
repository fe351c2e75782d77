"""Render a Cython Tempita template with the op table: tempita.py IN.tp --ops _ops.py -o OUT."""

import argparse
import importlib.util

from Cython import Tempita


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("template")
    parser.add_argument("--ops", required=True, help="the op table module (_ops.py)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()

    spec = importlib.util.spec_from_file_location("relukit_ops", args.ops)
    ops = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ops)

    with open(args.template, encoding="utf-8") as f:
        template = Tempita.Template(f.read(), name=args.template)
    text = template.substitute(UFUNCS=ops.UFUNCS, WORK_CLASSES=ops.WORK_CLASSES)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
