"""docs/mcp.md lists the tools the code serves, as the code describes them."""

from __future__ import annotations

from pathlib import Path

from ticket_sink.mcp import TOOLS, tool_table_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "mcp.md"
BEGIN = "<!-- tools:begin (generated from ticket_sink.mcp.tools) -->"
END = "<!-- tools:end -->"


def documented_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip() + "\n"


def test_the_tool_table_is_the_generated_one() -> None:
    assert documented_table() == tool_table_markdown(), (
        "docs/mcp.md is out of date: paste the output of "
        "`python -c 'from ticket_sink.mcp import tool_table_markdown as t; print(t())'`"
    )


def test_every_tool_is_in_the_table() -> None:
    table = documented_table()
    assert all(f"| `{tool.name}` |" in table for tool in TOOLS)
