// In-page helper of tdxlib.workbook.livecheck (JupyterLab and Voilà pages, added before any page script).
// Finds the workbook's widget panels, moves one control the way a user would (the DOM event a click,
// a key or a typed value sends), and times from that event to the panel's chart drawn: a chart
// announces each draw with a bubbling "tdxlib:drawn" event (tdxlib's live chart widget does; charts
// drawn by calling window.vegaEmbed are wrapped here to do the same), and the time is taken at the
// next animation frame, when the browser paints it.
(() => {
  if (window.__tdxlibLive) return;
  const DRAWN = "tdxlib:drawn";
  let embed;
  Object.defineProperty(window, "vegaEmbed", {
    configurable: true,
    get() { return embed; },
    set(f) {
      embed = async function (el, spec, opts) {
        const result = await f(el, spec, opts);
        const node = typeof el === "string" ? document.querySelector(el) : el;
        node.dispatchEvent(new CustomEvent(DRAWN, { bubbles: true }));
        return result;
      };
      Object.assign(embed, f);
    },
  });

  function scope() {
    const app = window.jupyterapp;
    const w = app && app.shell && app.shell.currentWidget;
    return (w && w.node) || document.body;
  }

  function charts(root) {
    return Array.from(root.querySelectorAll(".tdxlib-livechart, .vega-embed"));
  }

  function drawnCharts(root) {
    return charts(root || scope()).filter((el) => el.querySelector("svg.marks, canvas")).length;
  }

  // A panel: an outermost widget box holding a chart and at least one control.
  function panels() {
    const boxes = Array.from(scope().querySelectorAll(".widget-vbox"));
    return boxes.filter((b) => {
      const outer = !b.parentElement.closest(".widget-vbox");
      return outer && charts(b).length > 0 && controls(b).length > 0;
    });
  }

  function kindOf(el) {
    const c = el.classList;
    if (c.contains("widget-hslider")) {
      // A selection slider's noUi value is an index, not the value its readout shows: step it by key.
      const ro = el.querySelector(".widget-readout[contenteditable=true]");
      const ui = el.querySelector(".noUi-target");
      const numeric = ro && ui && ui.noUiSlider && Number(ui.noUiSlider.get()) === Number(ro.textContent);
      return numeric ? "slider" : "steps";
    }
    if (c.contains("widget-dropdown")) return "dropdown";
    if (c.contains("widget-checkbox")) return "checkbox";
    if (c.contains("widget-toggle-buttons")) return "toggle";
    if (c.contains("widget-select-multiple")) return "multi";
    if (c.contains("widget-text") && el.querySelector("input")) return "text";
    return null;
  }

  function labelOf(el) {
    const text = (sel) => ((el.querySelector(sel) || {}).textContent || "").replace(/\u200b/g, "").trim();
    return text(".widget-label") || text(".widget-label-basic") || "";
  }

  function controls(panel) {
    return Array.from(panel.querySelectorAll(".widget-inline-hbox"))
      .filter((el) => kindOf(el))
      .map((el) => ({ el, kind: kindOf(el), label: labelOf(el) }));
  }

  function keydown(target, init, keyCode) {
    const ev = new KeyboardEvent("keydown", { bubbles: true, cancelable: true, ...init });
    if (keyCode) Object.defineProperty(ev, "keyCode", { get: () => keyCode });
    target.dispatchEvent(ev);
  }

  // The k-th move of a control (k = 1, 2, ...): odd k goes "away" to a new value, even k comes back
  // to where it started. Returns [what, dispatch] where dispatch sends the event.
  function plan(c, k, start) {
    const away = k % 2 === 1;
    const n = Math.ceil(k / 2);
    const el = c.el;
    if (c.kind === "slider") {
      const opts = el.querySelector(".noUi-target").noUiSlider.options;
      const step = Number(opts.step) || 1;
      const [lo, hi] = [Number(opts.range.min), Number(opts.range.max)];
      let v = start.value;
      if (away) v = start.value + n * step <= hi ? start.value + n * step : Math.max(lo, start.value - n * step);
      v = Math.round(v * 1e6) / 1e6;
      const ro = el.querySelector(".widget-readout");
      return [String(v), () => { ro.textContent = String(v); keydown(ro, { key: "Enter" }, 13); }];
    }
    if (c.kind === "steps") {
      const handle = el.querySelector(".noUi-handle");
      const key = away ? start.stepKey : start.backKey;
      return [key, () => keydown(handle, { key })];
    }
    if (c.kind === "dropdown" || c.kind === "toggle") {
      const items = c.kind === "dropdown" ? Array.from(el.querySelector("select").options)
        : Array.from(el.querySelectorAll("button"));
      const idx = away ? (start.index + n) % items.length : start.index;
      const target = idx === start.index && away ? (idx + 1) % items.length : idx;
      if (c.kind === "toggle") return [items[target].textContent, () => items[target].click()];
      const sel = el.querySelector("select");
      return [items[target].value, () => { sel.selectedIndex = target; sel.dispatchEvent(new Event("change", { bubbles: true })); }];
    }
    if (c.kind === "checkbox") {
      const box = el.querySelector("input[type=checkbox]");
      return [String(!box.checked), () => box.click()];
    }
    if (c.kind === "multi") {
      const sel = el.querySelector("select");
      const opts = Array.from(sel.options);
      const want = away ? start.selected.map((s, i) => (i === (n - 1) % opts.length ? !s : s)) : start.selected;
      if (!want.some(Boolean)) want[(n % opts.length)] = true;
      return [opts.filter((o, i) => want[i]).map((o) => o.value).join("+"), () => {
        opts.forEach((o, i) => { o.selected = want[i]; });
        sel.dispatchEvent(new Event("change", { bubbles: true }));
      }];
    }
    const input = el.querySelector("input");
    const v = away ? String(Number(start.value) + n) : String(start.value);
    return [v, () => { input.value = v; input.dispatchEvent(new Event("change", { bubbles: true })); }];
  }

  function startOf(c) {
    const el = c.el;
    if (c.kind === "slider") return { value: Number(el.querySelector(".widget-readout").textContent) };
    if (c.kind === "steps") {
      const h = el.querySelector(".noUi-handle");
      const atMax = h.getAttribute("aria-valuenow") === h.getAttribute("aria-valuemax");
      return atMax ? { stepKey: "ArrowLeft", backKey: "ArrowRight" } : { stepKey: "ArrowRight", backKey: "ArrowLeft" };
    }
    if (c.kind === "dropdown") return { index: el.querySelector("select").selectedIndex };
    if (c.kind === "toggle") {
      return { index: Array.from(el.querySelectorAll("button")).findIndex((b) => b.classList.contains("mod-active")) };
    }
    if (c.kind === "multi") return { selected: Array.from(el.querySelector("select").options).map((o) => o.selected) };
    if (c.kind === "text") return { value: el.querySelector("input").value };
    return {};
  }

  const starts = new Map();

  function waitDrawn(panel, t0, timeoutMs) {
    return new Promise((resolve) => {
      let timer;
      const done = (ev) => {
        clearTimeout(timer);
        const how = (ev.detail && ev.detail.how) || "embed";
        requestAnimationFrame(() => resolve({ ms: performance.now() - t0, how }));
      };
      panel.addEventListener(DRAWN, done, { once: true });
      timer = setTimeout(() => { panel.removeEventListener(DRAWN, done); resolve({ ms: null, how: null }); }, timeoutMs);
    });
  }

  // Move control `ci` of panel `pi` for the k-th time; resolves to {ms, value, label} (ms null: no redraw).
  async function move(pi, ci, k, timeoutMs) {
    const panel = panels()[pi];
    const c = controls(panel)[ci];
    const key = `${pi}/${ci}`;
    if (!starts.has(key)) starts.set(key, { kind: c.kind, ...startOf(c) });
    const start = starts.get(key);
    c.kind = start.kind; // as first seen: a log slider's readout can match its exponent on the way
    const [value, dispatch] = plan(c, k, start);
    c.el.scrollIntoView({ block: "center" });
    await new Promise((r) => requestAnimationFrame(() => r()));
    const t0 = performance.now();
    const drawn = waitDrawn(panel, t0, timeoutMs || 10000);
    dispatch();
    const { ms, how } = await drawn;
    return { ms, how, value, label: c.label, kind: c.kind };
  }

  function describe() {
    return panels().map((p) => ({
      title: (p.querySelector(".widget-html b, b") || {}).textContent || "",
      controls: controls(p).map((c) => ({ kind: c.kind, label: c.label })),
    }));
  }

  window.__tdxlibLive = { panels, describe, move, drawnCharts, charts: () => charts(scope()).length, reset: () => starts.clear() };
})();
