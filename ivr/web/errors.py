"""Error pages in the user's language, and JSON errors for the API."""

import logging

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

logger = logging.getLogger(__name__)


def _wants_json():
    return request.path.startswith("/api/")


def _page(status, title, message):
    if _wants_json():
        return jsonify(error=message), status
    return render_template("error.html", status=status, title=title, message=message), status


def register(app):
    @app.errorhandler(400)
    def bad_request(error):
        return _page(400, _("Bad request"), _("The request could not be read."))

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        logger.warning("CSRF check failed path=%s reason=%s", request.path, error.description)
        return _page(400, _("Form expired"),
                     _("The form has expired or did not come from this site. "
                       "Go back, reload the page and send the form again."))

    @app.errorhandler(403)
    def forbidden(error):
        return _page(403, _("Access denied"),
                     _("Your account does not have the role this page needs."))

    @app.errorhandler(404)
    def not_found(error):
        return _page(404, _("Not found"), _("There is no such page or record."))

    @app.errorhandler(405)
    def method_not_allowed(error):
        return _page(405, _("Method not allowed"), _("This address does not accept that request."))

    @app.errorhandler(413)
    def too_large(error):
        return _page(413, _("Request too large"),
                     _("The request is larger than the server accepts."))

    @app.errorhandler(500)
    def server_error(error):
        return _page(500, _("Server error"),
                     _("Something went wrong on the server. The error has been logged."))
