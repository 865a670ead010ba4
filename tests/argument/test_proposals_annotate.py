"""tdxlib.argument.proposals.annotate: the annotated proposal, every text escaped, each annotation
beside its GHCI section with its evidence."""

from __future__ import annotations

from html import escape

from proposal_helpers import BASE

from tdxlib.argument import proposals as P


def test_annotation_text_is_escaped():
    evil = BASE.replace('text: "Which vCPU?"', 'text: "<script>alert(1)</script> & <b>bold</b>"').replace(
        'title: "A tiny proposal"', 'title: "<img src=x onerror=alert(1)>"'
    )
    p = P.load_proposal_text(evil)
    html = P.render_html(p, full_page=True)
    assert "<script>" not in html and "<img" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


def test_render_html_puts_annotations_beside_their_section_with_evidence():
    p = P.resolve("caller-vcpu")
    ev = P.evaluate(p, "quick")
    html = P.render_html(p, ev)
    sections = P.known_sections()
    for note in p.annotations:
        assert escape(sections[note.anchor.section].title) in html
        assert escape(note.text) in html
    # the ambiguity names hotplug-no-rereg as evidence: its verdict is in the grid
    assert "hotplug-no-rereg" in html and "loses notifications" in html
    assert html.index("§3.5") < html.index("§3.13")
    assert "https://lore.kernel.org/all/" in html
