"""Flask commands of the staff page: `flask --app ivr.web create-admin NAME`, `create-token`."""

import click
from flask import current_app
from flask.cli import with_appcontext

from ivr.staff_store import ROLES, StaffError
from ivr.web.admin import MIN_PASSWORD_LENGTH


def register(app):
    app.cli.add_command(create_admin)
    app.cli.add_command(create_token)


def _staff():
    return current_app.extensions["ivr"]["staff"]


@click.command("create-admin")
@with_appcontext
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Password of the new account; asked for when not given.")
@click.option("--full-name", default="", help="Name shown on the page.")
def create_admin(username, password, full_name):
    """Create a staff account with the admin role (to add the other users)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"use at least {MIN_PASSWORD_LENGTH} characters",
                                 param_hint="--password")
    try:
        user_id = _staff().add_user(username, password, ["admin"], full_name=full_name)
    except StaffError as error:
        raise click.ClickException(str(error)) from None
    _staff().audit("cli", "user.created", f"user:{user_id}", username=username, roles=["admin"])
    click.echo(f"admin {username!r} created (id {user_id})")


@click.command("create-token")
@with_appcontext
@click.argument("name")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), required=True,
              help="Role the token acts with; repeat for several.")
def create_token(name, roles):
    """Create a JSON API token and print it once; only its hash is stored."""
    token_id, token = _staff().add_token(name, roles)
    _staff().audit("cli", "token.created", f"token:{token_id}", name=name, roles=list(roles))
    click.echo(token)
