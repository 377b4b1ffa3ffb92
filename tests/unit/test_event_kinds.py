"""Event kinds are named once: `EventKind` in Python, `webui/js/events.js` for the UI, checked equal here."""

from __future__ import annotations

import re
from pathlib import Path

from sparkq_adapters.event_kinds import EventKind

ROOT = Path(__file__).resolve().parents[2]
WEBUI = ROOT / "webui" / "js"
SRC = ROOT / "src"
#: a quoted event kind, as code spells one
KIND_LITERAL = re.compile(r"""["'](?:task|session|stream)\.[a-z_]+["']""")


def test_the_ui_s_event_module_names_exactly_the_server_s_kinds() -> None:
    text = (WEBUI / "events.js").read_text()
    block = text[text.index("export const EVENT = Object.freeze({") : text.index("});")]
    named = dict(re.findall(r"^\s*([A-Z_]+): \"([a-z._]+)\",$", block, flags=re.MULTILINE))
    assert named == {kind.name: kind.value for kind in EventKind}


def test_no_other_ui_module_spells_an_event_kind() -> None:
    spelled = {
        path.relative_to(WEBUI).as_posix(): KIND_LITERAL.findall(path.read_text())
        for path in WEBUI.rglob("*.js")
        if path.name != "events.js"
    }
    assert {name: found for name, found in spelled.items() if found} == {}


def test_in_python_only_the_kinds_module_and_the_schema_s_history_spell_an_event_kind() -> None:
    # sqlite/schema.py keeps the SQL of migrations already run (schema v3's triggers) word for word; the
    # kinds that SQL writes are checked against EventKind by tests/integration/test_schema_failure_facts.py
    spelling = {path.relative_to(SRC).as_posix() for path in SRC.rglob("*.py") if KIND_LITERAL.search(path.read_text())}
    assert spelling == {"sparkq_adapters/event_kinds.py", "sparkq_adapters/sqlite/schema.py"}
