from pathlib import Path

from pgwarden.config import docs
from pgwarden.config.keys import ALL_KEYS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_config_table_is_current():
    text = README.read_text(encoding="utf-8")
    assert docs.render_into(text, ALL_KEYS) == text, (
        "README's config table is stale: run `uv run pgwarden config docs --write README.md`"
    )


def test_readme_has_the_two_quick_start_commands():
    text = README.read_text(encoding="utf-8")
    assert "uv run pgwarden demo" in text and "uv run pytest" in text
