"""Test helper: what an HTML page would load, read independently of tdxlib's own offline scanner."""

from __future__ import annotations

from html.parser import HTMLParser


class Resources(HTMLParser):
    """Every src/href of scripts, stylesheets/links, images and frames."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (tag, name) in {
                ("script", "src"),
                ("link", "href"),
                ("img", "src"),
                ("iframe", "src"),
            }:
                self.refs.append(value)
