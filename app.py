"""Command-line entry point of the voice line.

    python app.py serve       the staff web page and the SIP line together
    python app.py web         the staff web page only
    python app.py sip         the SIP line only
    python app.py simulate    a simulated call (see python -m ivr.simulator --help)
    python app.py softphone   a call from this computer's microphone and speaker
    python app.py create-admin NAME    the first staff account

Settings come from environment variables (README.md has the table). The web
page listens on IVR_WEB_HOST:IVR_WEB_PORT (default 127.0.0.1:8080).
"""

import logging
import os
import subprocess
import sys

logger = logging.getLogger("ivr.app")


def _settings():
    from ivr.config import load_settings
    return load_settings()


def run_web():
    from waitress import serve as waitress_serve

    from ivr.web import create_app
    app = create_app(_settings())
    host = os.environ.get("IVR_WEB_HOST", "127.0.0.1")
    port = int(os.environ.get("IVR_WEB_PORT", "8080"))
    logger.info("staff web page on http://%s:%d/", host, port)
    waitress_serve(app, host=host, port=port, threads=8)
    return 0


def run_sip():
    from ivr.config import ConfigError
    from ivr.grammar import GrammarError
    from ivr.models import ModelNotFound
    from ivr.sip import load_sip_settings, serve

    try:
        settings = _settings()
        sip_settings = load_sip_settings()
        logger.info("SIP line for language %s on %s:%s; point a softphone at sip:ivr@%s:%s",
                    settings.lang, sip_settings.address, sip_settings.port,
                    sip_settings.address, sip_settings.port)
        serve(settings, sip_settings)
    except (ConfigError, GrammarError, ModelNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run_both():
    """Start the web page in a child process, then run the SIP line in this one."""
    web = subprocess.Popen([sys.executable, os.path.abspath(__file__), "web"])
    try:
        return run_sip()
    finally:
        web.terminate()
        web.wait(10)


def create_admin(argv):
    from flask.cli import ScriptInfo

    from ivr.web import create_app
    app = create_app(_settings())
    return app.cli.main(args=["create-admin", *argv], prog_name="app.py",
                        obj=ScriptInfo(create_app=lambda: app), standalone_mode=True)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=os.environ.get("IVR_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = argv.pop(0) if argv else "serve"
    if command == "serve":
        return run_both()
    if command == "web":
        return run_web()
    if command == "sip":
        return run_sip()
    if command == "simulate":
        from ivr.simulator import main as simulate
        return simulate(argv)
    if command == "softphone":
        from ivr.softphone import main as softphone
        return softphone(argv)
    if command == "create-admin":
        return create_admin(argv)
    print(__doc__, file=sys.stderr)
    return 0 if command in ("-h", "--help", "help") else 2


if __name__ == "__main__":
    sys.exit(main())
