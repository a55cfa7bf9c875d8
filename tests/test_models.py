"""Model lookup and first-run download, served by a local HTTP server on 127.0.0.1."""

import http.server
import io
import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from ivr.config import load_settings
from ivr.grammar import GrammarError
from ivr.line import Line
from ivr.models import ModelNotFound, resolve_model

PROJECT_DIR = Path(__file__).resolve().parent.parent


def model_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("vosk-model-small-ru-0.22/am/final.mdl", b"x" * 200_000)
        zf.writestr("vosk-model-small-ru-0.22/conf/model.conf", b"--sample-frequency=16000\n")
    return buffer.getvalue()


@pytest.fixture
def http_server():
    payloads = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = payloads.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield payloads, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_unpacks_model_with_progress(http_server, tmp_path):
    payloads, base = http_server
    payloads["/model.zip"] = model_zip()
    settings = load_settings(lang="ru", model_dir=tmp_path / "models",
                             model_url=f"{base}/model.zip", model_path=None)
    progress = io.StringIO()
    path = resolve_model(settings, progress=progress)
    assert path == tmp_path / "models" / "vosk-model-small-ru-0.22"
    assert (path / "am" / "final.mdl").stat().st_size == 200_000
    assert "MB" in progress.getvalue()
    assert "#" * 40 in progress.getvalue()
    assert resolve_model(settings, download=False) == path


def test_download_of_non_model_archive_fails_cleanly(http_server, tmp_path):
    payloads, base = http_server
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    payloads["/bad.zip"] = buffer.getvalue()
    settings = load_settings(lang="ru", model_dir=tmp_path / "models",
                             model_url=f"{base}/bad.zip", model_path=None)
    with pytest.raises(ModelNotFound, match="contains no Vosk model"):
        resolve_model(settings, progress=None)
    assert not (tmp_path / "models" / "vosk-model-small-ru-0.22").exists()


def test_offline_error_says_where_to_put_model(http_server, tmp_path):
    _, base = http_server
    settings = load_settings(lang="ru", model_dir=tmp_path / "models",
                             model_url=f"{base}/missing.zip", model_path=None)
    with pytest.raises(ModelNotFound) as error:
        resolve_model(settings, progress=None)
    message = str(error.value)
    assert str(tmp_path / "models" / "vosk-model-small-ru-0.22") in message
    assert "IVR_LANG=ko" in message
    assert "IVR_MODEL_PATH" in message


def test_model_path_that_is_not_a_model(tmp_path):
    settings = load_settings(lang="ru", model_path=tmp_path)
    with pytest.raises(ModelNotFound, match="not a Vosk model folder"):
        resolve_model(settings)


def test_korean_model_comes_from_package():
    settings = load_settings(lang="ko", model_path=None)
    assert (resolve_model(settings, download=False) / "am" / "final.mdl").is_file()


def test_grammar_word_missing_from_model_stops_startup(tmp_path, korean_model):
    grammar_root = tmp_path / "project"
    (grammar_root / "grammars").mkdir(parents=True)
    import shutil
    shutil.copytree(PROJECT_DIR / "grammars" / "ko", grammar_root / "grammars" / "ko")
    menu = grammar_root / "grammars" / "ko" / "menu.json"
    data = json.loads(menu.read_text(encoding="utf-8"))
    data["items"][0]["phrases"].append("예약하기")
    menu.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    settings = load_settings(lang="ko", data_dir=tmp_path / "data")
    settings.__class__ = type("Patched", (settings.__class__,),
                              {"grammar_dir": property(lambda s: menu.parent)})
    with pytest.raises(GrammarError) as error:
        Line(settings, model=korean_model)
    assert "'예약하기'" in str(error.value)
    assert str(menu) in str(error.value)


def test_simulator_json_books_by_voice(tmp_path):
    env = {"IVR_DATA_DIR": str(tmp_path / "data"), "IVR_LANG": "ko", "PATH": "/usr/bin:/bin"}
    import os
    env = {**os.environ, **env}
    result = subprocess.run(
        [sys.executable, "-m", "ivr.simulator", "--speak", "--json", "--caller-id", "01012345678",
         "예약", "내일", "열 시", "열 명", "김민수", "좋아요"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["outcome"] == "booked"
    assert len(record["booking_code"]) == 6
    assert [t["field"] for t in record["turns"]][:4] == ["menu", "day", "tour", "places"]
    import sqlite3
    with sqlite3.connect(tmp_path / "data" / "ivr.sqlite3") as conn:
        row = conn.execute("SELECT places, phone FROM bookings WHERE code = ?",
                           (record["booking_code"],)).fetchone()
    assert row == (10, "01012345678")


def test_simulator_rejects_bad_audio_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("hello")
    import os
    result = subprocess.run([sys.executable, "-m", "ivr.simulator", "--lang", "ko", str(bad)],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "IVR_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2
    assert "not a WAV file" in result.stderr
    assert "sox" in result.stderr
