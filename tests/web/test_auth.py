"""Logins, sessions, CSRF, cookie flags, request limits and the access rule on every view."""

from ivr.web.auth import PUBLIC_ENDPOINTS

from .conftest import PASSWORD, csrf_token_from, login


def test_anonymous_redirected_to_login(client):
    response = client.get("/tours")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_every_view_has_a_role_rule(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        assert getattr(view, "required_roles", None) or rule.endpoint == "api.not_found", \
            f"{rule.rule} ({rule.endpoint}) has no role rule"


def test_login_wrong_password_rejected(client):
    response = login(client, "operator", "wrong password")
    assert response.status_code == 401
    assert "Неверное имя пользователя или пароль." in response.get_data(as_text=True)


def test_login_unknown_user_same_message(client):
    response = login(client, "nobody", "whatever")
    assert response.status_code == 401
    assert "Неверное имя пользователя или пароль." in response.get_data(as_text=True)


def test_login_empty_fields_explained(client):
    response = client.post("/login", data={"username": "", "password": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Введите имя пользователя." in html
    assert "Введите пароль." in html
    assert 'aria-invalid="true"' in html


def test_login_sets_new_session_each_time(client, staff):
    login(client, "operator")
    with client.session_transaction() as session:
        first = session["sid"]
    login(client, "operator")
    with client.session_transaction() as session:
        second = session["sid"]
    assert first != second
    assert staff.session_user(first) is None
    assert staff.session_user(second)["username"] == "operator"


def test_logout_ends_session_for_copied_cookie(app):
    client = app.test_client()
    login(client, "operator")
    cookie = client.get_cookie("ivr_staff").value

    response = client.post("/logout")
    assert response.status_code == 302

    replay = app.test_client()
    replay.set_cookie("ivr_staff", cookie)
    response = replay.get("/tours")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_rate_limited_per_account(client, app):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert login(client, "editor", "wrong").status_code == 401
    response = login(client, "editor", PASSWORD)
    assert response.status_code == 429
    assert "Слишком много неудачных попыток" in response.get_data(as_text=True)
    # Another account is not affected.
    assert login(client, "operator").status_code == 302


def test_login_redirects_only_to_own_site(client):
    response = client.post("/login", data={"username": "operator", "password": PASSWORD,
                                           "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"
    response = client.post("/login", data={"username": "operator", "password": PASSWORD,
                                           "next": "/bookings?q=1"})
    assert response.headers["Location"] == "/bookings?q=1"


def test_session_cookie_flags(settings):
    from ivr.web import create_app

    app = create_app(settings, {"SECRET_KEY": "x", "WTF_CSRF_ENABLED": False})
    app.extensions["ivr"]["staff"].add_user("op", PASSWORD, ["operator"])
    response = app.test_client().post("/login", data={"username": "op", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_secret_key_created_once(settings):
    from ivr.web import create_app

    first = create_app(settings).config["SECRET_KEY"]
    second = create_app(settings).config["SECRET_KEY"]
    key_file = settings.data_dir / "web-secret-key"
    assert first == second
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_csrf_missing_token_rejected(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/login", data={"username": "operator", "password": PASSWORD})
    assert response.status_code == 400
    assert "Форма устарела" in response.get_data(as_text=True)


def test_csrf_token_from_page_accepted(csrf_app, tours):
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": "operator", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302

    page = client.get(f"/tours/{tours['a']}").get_data(as_text=True)
    token = csrf_token_from(page)
    without = client.post("/bookings/new", data={"tour_id": tours["a"], "places": 1,
                                                 "name": "Без токена"})
    assert without.status_code == 400
    with_token = client.post("/bookings/new", data={"tour_id": tours["a"], "places": 1,
                                                    "name": "С токеном", "csrf_token": token})
    assert with_token.status_code == 302


def test_csrf_required_on_logout(csrf_app):
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "operator", "password": PASSWORD, "csrf_token": token})
    assert client.post("/logout").status_code == 400
    assert client.get("/tours").status_code == 200


def test_oversized_request_rejected(app, as_role):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    client = as_role("operator")
    response = client.post("/bookings/new", data={"name": "x" * 5000, "places": 1, "tour_id": 1})
    assert response.status_code == 413


def test_unknown_url_is_404(as_role):
    assert as_role("operator").get("/no-such-page").status_code == 404


def test_language_switch_to_english(as_role):
    client = as_role("operator")
    assert "Экскурсии" in client.get("/tours").get_data(as_text=True)
    client.post("/language", data={"lang": "en", "next": "/tours"})
    html = client.get("/tours").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert ">Tours<" in html


def test_language_kept_after_login(client):
    client.post("/language", data={"lang": "en", "next": "/login"})
    login(client, "operator")
    assert '<html lang="en">' in client.get("/tours").get_data(as_text=True)


def test_home_redirects_by_role(as_role):
    expected = {"operator": "/tours", "coordinator": "/tours", "editor": "/questions",
                "supervisor": "/calls/live", "admin": "/admin/users"}
    for role, path in expected.items():
        assert as_role(role).get("/").headers["Location"] == path


def test_deactivated_user_loses_session(as_role, staff):
    client = as_role("operator")
    user = [u for u in staff.list_users() if u["username"] == "operator"][0]
    staff.update_user(user["id"], active=False)
    assert client.get("/tours").status_code == 302


def test_security_headers(as_role):
    response = as_role("operator").get("/tours")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
