"""Run the SIP line alone: `python -m ivr.sip [--handler module:factory]`.

Settings come from the environment (ivr.config and ivr.sip.config). The
optional handler factory, `factory(settings) -> handler(channel)`, replaces the
voice line; tests use it to run the channel with a small dialog of their own.
"""

import argparse
import importlib
import logging

from ivr.config import load_settings
from ivr.sip.config import load_sip_settings
from ivr.sip.supervisor import serve


def _load_factory(spec):
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise SystemExit(f"--handler {spec!r} is invalid; use the form module:function")
    return getattr(importlib.import_module(module_name), attribute)


def main():
    parser = argparse.ArgumentParser(prog="python -m ivr.sip", description=__doc__.splitlines()[0])
    parser.add_argument("--handler", help="module:function returning the per-call handler "
                                          "(default: the voice line)")
    parser.add_argument("--log-level", default="INFO", help="Python log level (default INFO)")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(processName)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    handler = _load_factory(args.handler)(settings) if args.handler else None
    serve(settings, load_sip_settings(), handler=handler)


if __name__ == "__main__":
    main()
