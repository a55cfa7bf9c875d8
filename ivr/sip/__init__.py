"""The SIP phone channel: PJSUA2 workers behind a front port, each call run by the voice line.

`serve(settings, sip_settings=None, handler=None)` runs it (see
ivr.sip.supervisor); ivr.sip.config lists the settings.
"""

from ivr.sip.config import SipSettings, load_sip_settings
from ivr.sip.supervisor import serve

__all__ = ["SipSettings", "load_sip_settings", "serve"]
