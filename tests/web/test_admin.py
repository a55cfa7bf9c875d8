"""Admin pages: users, API tokens, audit log, settings, and the CLI commands."""

from .conftest import PASSWORD, login


def test_add_user_and_log_in(as_role, app, staff):
    response = as_role("admin").post("/admin/users/new", data={
        "username": "olga", "full_name": "Ольга", "roles": ["operator", "editor"],
        "password": "long enough pw", "confirm": "long enough pw"})
    assert response.status_code == 302
    assert login(app.test_client(), "olga", "long enough pw").status_code == 302
    entry = staff.list_audit()[0]
    assert entry["action"] == "user.created"
    assert entry["actor"] == "admin"
    assert entry["details"]["roles"] == ["operator", "editor"]


def test_add_user_invalid(as_role):
    response = as_role("admin").post("/admin/users/new", data={
        "username": "bad name!", "password": "short", "confirm": "other"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Используйте латинские буквы" in html
    assert "Пароль должен быть не короче 10 символов." in html
    assert "Пароли не совпадают." in html


def test_add_user_duplicate(as_role):
    response = as_role("admin").post("/admin/users/new", data={
        "username": "operator", "password": "long enough pw", "confirm": "long enough pw"})
    assert "Это имя пользователя уже занято." in response.get_data(as_text=True)


def test_edit_user_roles(as_role, app, staff):
    user = [u for u in staff.list_users() if u["username"] == "operator"][0]
    as_role("admin").post(f"/admin/users/{user['id']}", data={
        "full_name": "Оператор", "roles": ["supervisor"], "active": "y"})
    assert staff.get_user(user["id"])["roles"] == ["supervisor"]
    client = app.test_client()
    login(client, "operator")
    assert client.get("/bookings").status_code == 403
    assert client.get("/calls").status_code == 200


def test_admin_cannot_drop_own_admin_role(as_role, staff):
    admin = [u for u in staff.list_users() if u["username"] == "admin"][0]
    response = as_role("admin").post(f"/admin/users/{admin['id']}", data={
        "roles": ["operator"], "active": "y"})
    assert response.status_code == 400
    assert staff.get_user(admin["id"])["roles"] == ["admin"]


def test_unknown_user_404(as_role):
    assert as_role("admin").get("/admin/users/999").status_code == 404


def test_create_and_revoke_token(as_role, client, staff, tours):
    admin = as_role("admin")
    html = admin.post("/admin/tokens", data={"name": "crm", "roles": ["operator"]}) \
        .get_data(as_text=True)
    token = html.split('id="new-token" readonly size="50" value="')[1].split('"')[0]
    assert client.get("/api/v1/tours", headers={"Authorization": f"Bearer {token}"}) \
        .status_code == 200
    token_id = staff.list_tokens()[0]["id"]
    admin.post(f"/admin/tokens/{token_id}/revoke")
    assert client.get("/api/v1/tours", headers={"Authorization": f"Bearer {token}"}) \
        .status_code == 401
    assert [e["action"] for e in staff.list_audit()[:2]] == ["token.revoked", "token.created"]
    assert admin.post(f"/admin/tokens/{token_id}/revoke").status_code == 404


def test_token_needs_a_role(as_role, staff):
    response = as_role("admin").post("/admin/tokens", data={"name": "crm"})
    assert response.status_code == 400
    assert staff.list_tokens() == []


def test_audit_log_page_filters(as_role, store, tours):
    as_role("operator").post("/bookings/new", data={"tour_id": tours["a"], "places": 1,
                                                    "name": "Тест"})
    html = as_role("admin").get("/admin/audit?actor=operator").get_data(as_text=True)
    assert "booking.created" in html
    html = as_role("admin").get("/admin/audit?actor=editor").get_data(as_text=True)
    assert "booking.created" not in html


def test_settings_page(as_role, settings):
    html = as_role("admin").get("/admin/settings").get_data(as_text=True)
    assert str(settings.db_path) in html


def test_cli_create_admin(app, staff):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "boss", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert login(app.test_client(), "boss").status_code == 302
    assert staff.list_audit()[0]["actor"] == "cli"


def test_cli_create_admin_rejects_short_password_and_duplicate(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-admin", "boss", "--password", "short"]).exit_code != 0
    result = runner.invoke(args=["create-admin", "admin", "--password", PASSWORD])
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_cli_create_token(app, client):
    result = app.test_cli_runner().invoke(args=["create-token", "crm", "--role", "operator"])
    token = result.output.strip()
    assert client.get("/api/v1/tours", headers={"Authorization": f"Bearer {token}"}) \
        .status_code == 200
