"""`python -m atlas_sim --port 8765 --scenario PATH`: serve the Microsoft cloud simulator."""

from __future__ import annotations

import argparse
import logging

from atlas_sim.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m atlas_sim", description="Serve the Atlas Microsoft simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--scenario", default=None, help="scenario YAML (default: the bundled demo)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(args.host, args.port, args.scenario)


if __name__ == "__main__":
    main()
