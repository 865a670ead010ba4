"""tdxlib.workbook.panel: controls generated from the parameter model; redraws validate, remember, report."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tdxlib.workbook import nb01_question, nb02_budget, nb03_delivery, nb04_hotplug, nb05_polling
from tdxlib.workbook.panel import Panel, View, control, make_panel
from tdxlib.workbook.param_model import facts
from tdxlib.workbook.params import (
    BudgetParams,
    DeliveryParams,
    HotplugParams,
    PollingParams,
    QuestionParams,
)


def test_controls_follow_the_fields_type_range_and_choices() -> None:
    h = HotplugParams()
    assert type(control(h, "reregister")).__name__ == "Checkbox"
    strategy = control(h, "strategy")
    assert type(strategy).__name__ == "Dropdown"
    assert list(strategy.options) == list(facts(HotplugParams, "strategy").choices or ())
    cpus = control(h, "cpus")
    assert (type(cpus).__name__, cpus.min, cpus.max, cpus.value) == ("IntSlider", 2, 64, 4)
    delay = control(h, "reregister_delay_ms")
    assert type(delay).__name__ == "FloatLogSlider" and delay.max == pytest.approx(math.log10(10000))
    rate = control(h, "rate_per_s")
    assert (rate.min, rate.max, rate.step) == (0.5, 50.0, 0.5)  # the panel's narrower range
    assert control(h.replace(duration_s=20.0), "offline_at_s").max == 20.0  # ends at duration_s
    seed = control(h, "seed")
    assert (type(seed).__name__, seed.min, seed.max) == ("BoundedIntText", 0, 2**31 - 1)


def test_list_choice_and_power_of_two_controls() -> None:
    hz = control(PollingParams(), "hz_values")
    assert type(hz).__name__ == "SelectMultiple"
    assert set(hz.options) == {100, 250, 300, 1000} and hz.value == (100, 250, 1000)
    assert type(control(PollingParams(), "percentile")).__name__ == "ToggleButtons"
    sizes = control(BudgetParams(cpus=48), "cpus")
    assert type(sizes).__name__ == "SelectionSlider"
    assert sizes.value == 48 and max(sizes.options) == 8192 and 64 in sizes.options


@pytest.mark.parametrize(
    ("panel", "model"),
    [
        (nb01_question.question_panel, QuestionParams),
        (nb02_budget.budget_panel, BudgetParams),
        (nb03_delivery.delivery_panel, DeliveryParams),
        (nb04_hotplug.hotplug_panel, HotplugParams),
        (nb05_polling.polling_panel, PollingParams),
    ],
)
def test_each_panel_starts_at_its_notebook_defaults(panel: Any, model: Any) -> None:
    """bench_widgets.py times each panel at its defaults: they are the notebook's, from the model."""
    p = panel()
    assert p.error == "" and p.params == model()
    for name, c in p.controls.items():
        start = model().control_value(name)
        assert c.value == (tuple(start) if isinstance(start, (list, tuple)) else start), name


def _counting_panel() -> tuple[Panel, list[QuestionParams]]:
    seen: list[QuestionParams] = []

    def view(p: QuestionParams) -> View:
        seen.append(p)
        return nb01_question.question_view(p)

    return make_panel("t", QuestionParams(quotes=2), view, ("strategy", "quotes")), seen


def test_moving_a_control_back_redraws_from_memory() -> None:
    p, seen = _counting_panel()
    p.controls["quotes"].value = 3
    p.controls["quotes"].value = 2
    assert p.redraws == 3 and len(seen) == 2  # the way back was remembered
    assert seen[-1] == QuestionParams(quotes=3)
    assert p.values()["quotes"] == 2 and p.caption.endswith("found no handler")


def test_values_the_model_refuses_are_shown_not_raised() -> None:
    p, seen = _counting_panel()
    p.controls["quotes"].max = 50
    p.controls["quotes"].value = 30  # the model allows 1..20
    assert "quotes" in p.error and "[1..20]" in p.caption_html.value
    assert len(seen) == 1 and p.redraws == 1
    p.controls["quotes"].value = 4
    assert p.error == "" and p.redraws == 2


def test_overrides_replace_generated_controls() -> None:
    import ipywidgets as w

    mine = w.IntText(value=2)
    p = make_panel("t", QuestionParams(quotes=2), nb01_question.question_view, ("quotes",), {"quotes": mine})
    assert p.controls["quotes"] is mine
    mine.value = 3
    assert p.result is not None and (p.result["kind"] == "quote_issue").sum() == 3
