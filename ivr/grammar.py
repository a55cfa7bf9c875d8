"""Grammars: data files that map phrases and DTMF keys to meanings.

A grammar file `grammars/<lang>/<name>.json` looks like:

    {"kind": "choice",
     "items": [{"meaning": "book", "dtmf": "1",
                "phrases": ["забронировать", "записаться на экскурсию"]}]}

`kind` is "choice" (one meaning per utterance) or "digits" (each item is one
digit; an utterance of several digit words means the digit string). The file
`commands.json` holds the universal commands (operator, repeat, back) that
every turn accepts besides its own grammar.

Vosk turns a phrase list into a bigram language model, so the recogniser may
return word sequences that are none of the phrases; `Grammar.match` maps such
text back to a meaning only when that is unambiguous.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

COMMANDS = "commands"


class GrammarError(Exception):
    """A grammar file is invalid or uses a word the speech model does not know."""


@dataclass(frozen=True)
class Match:
    meaning: str
    phrase: str


def normalize(text):
    """Lower-case, fold ё to е, drop punctuation and repeated spaces."""
    text = text.lower().replace("ё", "е")
    text = re.sub(r"[^\w\s-]", " ", text)
    return " ".join(text.replace("-", " ").split())


class Grammar:
    def __init__(self, name, kind, items, path=None):
        if kind not in ("choice", "digits"):
            raise GrammarError(f"{path}: kind {kind!r} is invalid; use choice or digits")
        self.name, self.kind, self.path = name, kind, path
        self.items = []
        for item in items:
            if "meaning" not in item:
                raise GrammarError(f"{path}: an item has no 'meaning': {item}")
            phrases = [normalize(p) for p in item.get("phrases", [])]
            self.items.append({"meaning": str(item["meaning"]),
                               "phrases": [p for p in phrases if p],
                               "dtmf": str(item.get("dtmf", ""))})
        self._by_phrase = {}
        for item in self.items:
            for phrase in item["phrases"]:
                self._by_phrase.setdefault(phrase, item["meaning"])

    @classmethod
    def load(cls, path):
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise GrammarError(f"grammar file {path} cannot be read: {error}") from None
        return cls(path.stem, data.get("kind", "choice"), data.get("items", []), path)

    @property
    def phrases(self):
        return list(self._by_phrase)

    def words(self):
        return sorted({word for phrase in self._by_phrase for word in phrase.split()})

    def restricted(self, meanings):
        """Return a copy that keeps only the items whose meaning is in `meanings`."""
        keep = [item for item in self.items if item["meaning"] in set(meanings)]
        return Grammar(self.name, self.kind, keep, self.path)

    def dtmf_meaning(self, key):
        for item in self.items:
            if item["dtmf"] and item["dtmf"] == key:
                return item["meaning"]
        return None

    def match(self, text):
        """Return the Match for recognised text, or None for a no-match."""
        text = normalize(text)
        if not text:
            return None
        if self.kind == "digits":
            return self._match_digits(text)
        if text in self._by_phrase:
            return Match(self._by_phrase[text], text)
        padded = f" {text} "
        found = [p for p in self._by_phrase if f" {p} " in padded]
        if not found:
            return None
        longest = max(len(p.split()) for p in found)
        best = [p for p in found if len(p.split()) == longest]
        meanings = {self._by_phrase[p] for p in best}
        if len(meanings) != 1:
            return None
        return Match(meanings.pop(), best[0])

    def _match_digits(self, text):
        words = text.split()
        digits, position = [], 0
        phrases = sorted(self._by_phrase, key=lambda p: -len(p.split()))
        while position < len(words):
            for phrase in phrases:
                size = len(phrase.split())
                if words[position:position + size] == phrase.split():
                    digits.append(self._by_phrase[phrase])
                    position += size
                    break
            else:
                return None
        return Match("".join(digits), text)


class GrammarSet:
    """All grammars of one language, loaded from grammars/<lang>/."""

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise GrammarError(f"grammar folder {self.folder} not found; "
                               "check IVR_LANG and that grammars/<lang>/ exists")
        self.grammars = {p.stem: Grammar.load(p) for p in sorted(self.folder.glob("*.json"))}
        if COMMANDS not in self.grammars:
            raise GrammarError(f"{self.folder}/commands.json is missing; it defines the "
                               "operator, repeat and back commands every turn accepts")

    def __getitem__(self, name):
        try:
            return self.grammars[name]
        except KeyError:
            raise GrammarError(f"grammar {name!r} not found in {self.folder}") from None

    @property
    def commands(self):
        return self.grammars[COMMANDS]

    def check_vocabulary(self, has_word):
        """Raise GrammarError naming the first word that `has_word(word)` rejects."""
        for grammar in self.grammars.values():
            for word in grammar.words():
                if not has_word(word):
                    raise GrammarError(
                        f"the word {word!r} in grammar file {grammar.path} is not in the speech "
                        "model's vocabulary, so the recogniser would silently drop it; replace "
                        "the phrase with words the model knows, or use a model that has the word")
