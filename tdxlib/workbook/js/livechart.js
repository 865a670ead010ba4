// Front end of tdxlib.workbook.livechart.LiveChart (an anywidget). Bundled with vega, vega-lite and
// vega-embed by vl_convert.javascript_bundle, which provides `vegaEmbed`: no import, no
// network. The spec arrives once (its data as named datasets, `spec_id` says which spec it is); later
// revisions carry only the datasets' columns and the signals, applied to the live vega view as a
// changeset: no re-embed. Every draw ends with a bubbling "tdxlib:drawn" event on the element.

function rows(columns) {
  const names = Object.keys(columns);
  const n = names.length ? columns[names[0]].length : 0;
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const row = {};
    for (const name of names) row[name] = columns[name][i];
    out[i] = row;
  }
  return out;
}

function withData(spec, data, signals) {
  const full = structuredClone(spec);
  full.datasets = {};
  for (const [name, columns] of Object.entries(data || {})) full.datasets[name] = rows(columns);
  for (const p of full.params || []) {
    if (signals && p.name in signals) p.value = signals[p.name];
  }
  return full;
}

async function render({ model, el }) {
  el.classList.add("tdxlib-livechart");
  let view = null;
  let finalize = null;
  let specId = null;
  let draws = 0;
  let queue = Promise.resolve();

  const drawn = (how) => {
    draws += 1;
    el.dataset.draws = String(draws);
    el.dataset.how = how;
    el.dispatchEvent(new CustomEvent("tdxlib:drawn", { bubbles: true, detail: { draws, how } }));
  };

  const showError = (error) => {
    const box = document.createElement("pre");
    box.className = "tdxlib-livechart-error";
    box.style.color = "#D55E00";
    box.textContent = "chart error: " + (error && error.message ? error.message : String(error));
    el.replaceChildren(box);
    view = null;
    specId = null;
  };

  const embed = async () => {
    if (finalize) finalize();
    view = null;
    const spec = model.get("spec");
    if (!spec || !Object.keys(spec).length) {
      el.replaceChildren();
      return;
    }
    const full = withData(spec, model.get("data"), model.get("signals"));
    const result = await vegaEmbed(el, full, { actions: false, renderer: model.get("renderer") || "canvas" });
    view = result.view;
    finalize = result.finalize;
    specId = model.get("spec_id");
    drawn("embed");
  };

  const update = async () => {
    if (!view || specId !== model.get("spec_id")) return embed();
    for (const [name, columns] of Object.entries(model.get("data") || {})) {
      view.change(name, view.changeset().remove(() => true).insert(rows(columns)));
    }
    for (const [name, value] of Object.entries(model.get("signals") || {})) view.signal(name, value);
    await view.runAsync();
    drawn("update");
  };

  const next = (step) => {
    queue = queue.then(step).catch(showError);
    return queue;
  };
  const onRevision = () => next(update);
  model.on("change:rev", onRevision);
  await next(embed);
  return () => {
    model.off("change:rev", onRevision);
    if (finalize) finalize();
  };
}

export default { render };
