"""Questions pages: list, FTS5 search, filters, review changes, recordings, export."""

import csv
import io
import wave

import pytest
from openpyxl import load_workbook


def write_wav(path, seconds=0.5, rate=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(b"\x00\x00" * int(rate * seconds))


@pytest.fixture
def questions(store, settings):
    write_wav(settings.recordings_dir / "q1.wav")
    first = store.add_question(transcript="Сколько стоят билеты на выставку?", tags="цены",
                               phone="+79160000001", age_group="18-30",
                               recording="recordings/q1.wav", duration_seconds=4.2)
    second = store.add_question(transcript="Где находится парковка?", tags="дорога,парковка",
                                status="selected")
    third = store.add_question(transcript="Можно ли прийти с ребёнком?", status="rejected",
                               assigned_to="editor", recording="../outside.wav")
    (settings.data_dir / "outside.wav").write_bytes(b"RIFF")
    return {"tickets": first, "parking": second, "child": third}


def test_list_shows_questions(as_role, questions):
    html = as_role("editor").get("/questions").get_data(as_text=True)
    assert "Найдено 3 вопроса" in html
    assert "Где находится парковка?" in html


def test_search_uses_word_prefixes(as_role, questions):
    client = as_role("editor")
    html = client.get("/questions?q=билет").get_data(as_text=True)
    assert "Сколько стоят билеты" in html
    assert "Где находится парковка?" not in html
    html = client.get("/questions?q=ПАРКОВК").get_data(as_text=True)
    assert "Где находится парковка?" in html


def test_search_with_fts_syntax_is_safe(as_role, questions):
    response = as_role("editor").get('/questions?q=" OR NEAR( *')
    assert response.status_code == 200
    assert "Найдено 0 вопросов" in response.get_data(as_text=True)


def test_filters_status_tag_assigned(as_role, questions):
    client = as_role("editor")
    html = client.get("/questions?status=selected").get_data(as_text=True)
    assert "парковка?" in html
    assert "билеты" not in html
    html = client.get("/questions?tag=цены").get_data(as_text=True)
    assert "Сколько стоят билеты" in html
    assert "парковка?" not in html
    html = client.get("/questions?assigned=editor").get_data(as_text=True)
    assert "с ребёнком" in html
    assert "парковка?" not in html
    html = client.get("/questions?assigned=-").get_data(as_text=True)
    assert "с ребёнком" not in html


def test_question_page_shows_caller_and_player(as_role, questions):
    html = as_role("editor").get(f"/questions/{questions['tickets']}").get_data(as_text=True)
    assert "+79160000001" in html
    assert "18-30" in html
    assert f'<audio controls preload="metadata" src="/questions/{questions["tickets"]}/recording"' \
        in html


def test_review_change_is_audited_and_searchable(as_role, questions, store, staff):
    client = as_role("editor")
    response = client.post(f"/questions/{questions['tickets']}", data={
        "status": "selected", "tags": " Цены , важное,цены", "assigned_to": "editor"})
    assert response.status_code == 302
    question = store.get_question(questions["tickets"])
    assert question["status"] == "selected"
    assert question["tags"] == "цены,важное"
    assert question["assigned_to"] == "editor"
    entry = staff.list_audit()[0]
    assert entry["action"] == "question.updated"
    assert entry["actor"] == "editor"
    assert entry["details"]["before"]["status"] == "new"
    assert "важное" in client.get("/questions?q=важн").get_data(as_text=True)


def test_review_invalid_status_rejected(as_role, questions, store):
    response = as_role("editor").post(f"/questions/{questions['tickets']}",
                                      data={"status": "deleted", "tags": "", "assigned_to": ""})
    assert response.status_code == 400
    assert store.get_question(questions["tickets"])["status"] == "new"


def test_recording_served_to_editor(as_role, questions):
    response = as_role("editor").get(f"/questions/{questions['tickets']}/recording")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert response.data[:4] == b"RIFF"


def test_recording_supports_ranges(as_role, questions):
    response = as_role("editor").get(f"/questions/{questions['tickets']}/recording",
                                     headers={"Range": "bytes=0-3"})
    assert response.status_code == 206
    assert response.data == b"RIFF"


def test_recording_outside_folder_refused(as_role, questions):
    response = as_role("editor").get(f"/questions/{questions['child']}/recording")
    assert response.status_code == 404


def test_recording_missing_is_404(as_role, questions):
    client = as_role("editor")
    assert client.get(f"/questions/{questions['parking']}/recording").status_code == 404
    assert client.get("/questions/9999/recording").status_code == 404
    assert client.get("/questions/9999").status_code == 404


def test_recording_denied_to_other_roles(as_role, questions):
    for role in ("admin", "operator", "coordinator", "supervisor"):
        response = as_role(role).get(f"/questions/{questions['tickets']}/recording")
        assert response.status_code == 403, role


def test_export_ticked_csv(as_role, questions, staff):
    response = as_role("editor").post("/questions/export", data={
        "ids": [str(questions["tickets"]), str(questions["child"])], "format": "csv"})
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "Номер"
    assert [row[0] for row in rows[1:]] == [str(questions["tickets"]), str(questions["child"])]
    assert rows[1][-1] == "Сколько стоят билеты на выставку?"
    assert staff.list_audit()[0]["action"] == "questions.exported"


def test_export_nothing_ticked(as_role, questions):
    response = as_role("editor").post("/questions/export", data={"format": "csv"},
                                      follow_redirects=True)
    assert "Отметьте хотя бы один вопрос" in response.get_data(as_text=True)


def test_export_selected_status_xlsx(as_role, questions):
    response = as_role("editor").get("/questions/export?format=xlsx")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert len(rows) == 2
    assert rows[1][0] == questions["parking"]
    assert rows[1][3] == "дорога,парковка"


def test_fts_index_follows_store_updates(store, staff, questions):
    store.update_question(questions["parking"], transcript="Есть ли гардероб?")
    found, total = staff.search_questions("гардероб")
    assert total == 1
    assert staff.search_questions("парковк")[1] == 1  # still tagged "парковка"
    assert staff.search_questions("находится")[1] == 0


def test_fts_index_built_for_existing_rows(settings, store):
    from ivr.staff_store import StaffStore

    store.connect().execute("DROP TABLE IF EXISTS questions_fts")
    for trigger in ("insert", "update", "delete"):
        store.connect().execute(f"DROP TRIGGER IF EXISTS questions_fts_{trigger}")
    store.add_question(transcript="Вопрос до создания индекса")
    assert StaffStore(store).search_questions("индекса")[1] == 1
