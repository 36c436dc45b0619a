// The report's sample browser. The item data is one gzip + base64 block (#b-data), decompressed in the page with
// DecompressionStream; items are filtered in memory and rendered a page at a time. Every text from the data is
// set with textContent (never parsed as HTML).
(async function () {
  "use strict";
  const PAGE = 25;
  const $ = (id) => document.getElementById(id);
  const status = $("b-status");

  async function load() {
    const text = $("b-data").textContent.trim();
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  let data;
  try {
    data = await load();
  } catch (err) {
    status.textContent = "The item data could not be read in this browser (" + err + ").";
    return;
  }
  const tasks = data.tasks;
  const items = data.items;
  const changed = data.changed || [];
  const state = { mode: "all", task: "", category: "", label: "", outcome: "", query: "", page: 0 };
  let haystacks = null;
  let shown = [];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }
  function fillSelect(select, values, anyText) {
    const keep = select.value;
    select.replaceChildren(el("option", { value: "" }, anyText));
    for (const [value, text] of values) select.append(el("option", { value: value }, text));
    select.value = values.some(([v]) => v === keep) ? keep : "";
  }
  function labelKey(item) {
    if (!("label" in item)) return "~not judged";
    return item.label === null ? "~unscored" : item.label;
  }
  function labelText(key) {
    return key === "~not judged" ? "not judged" : key === "~unscored" ? "unscored by the judge" : key;
  }
  function haystack(item) {
    const parts = [item.prompt, item.answer, item.target, item.reason, item.label, item.category, "doc " + item.id,
      item.hash, tasks[item.task].name];
    for (const option of item.options || []) parts.push(option[0]);
    return parts.filter((p) => p !== null && p !== undefined).join("\n").toLowerCase();
  }
  function pool() {
    return state.mode === "changed" ? changed.map((c) => c.item) : items.map((_, i) => i);
  }
  function matches(i) {
    const item = items[i];
    if (state.task !== "" && String(item.task) !== state.task) return false;
    if (state.category !== "" && (item.category || "") !== state.category) return false;
    if (state.label !== "" && labelKey(item) !== state.label) return false;
    if (state.outcome !== "" && item.outcome !== state.outcome) return false;
    if (state.query) {
      haystacks = haystacks || items.map(haystack);
      if (!haystacks[i].includes(state.query)) return false;
    }
    return true;
  }
  function refreshChoices() {
    const inTask = pool().filter((i) => state.task === "" || String(items[i].task) === state.task);
    const categories = [...new Set(inTask.map((i) => items[i].category).filter((c) => c))].sort();
    fillSelect($("f-category"), categories.map((c) => [c, c]), "any category");
    const labels = [...new Set(inTask.map((i) => labelKey(items[i])))].sort();
    fillSelect($("f-label"), labels.map((k) => [k, labelText(k)]), "any label");
    state.category = $("f-category").value;
    state.label = $("f-label").value;
  }

  function fmt(x) {
    return x === null || x === undefined ? "unscored" : String(x);
  }
  function answerBlock(item) {
    const out = [];
    if (item.options) {
      out.push(el("h4", {}, "Options (log-likelihood; chosen = highest, as lm-eval's acc)"));
      const body = el("tbody");
      item.options.forEach(([text, ll], k) => {
        const marks = [k === item.pred ? "chosen" : null, k === item.gold ? "target" : null].filter((m) => m);
        const row = el("tr", k === item.pred ? { class: "chosen" } : {}, el("td", {}, String(k)), el("td", {}, text),
          el("td", { class: "ll" }, ll === null ? "—" : ll.toFixed(2)), el("td", { class: "mark" }, marks.join(", ")));
        body.append(row);
      });
      out.push(el("table", { class: "options" }, el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "option"),
        el("th", {}, "log-likelihood"), el("th", {}, ""))), body));
    } else {
      out.push(el("h4", {}, "Answer"), el("pre", { class: "answer" }, item.answer || "(empty answer)"));
      if (item.target) out.push(el("h4", {}, "Target"), el("pre", {}, item.target));
    }
    if ("label" in item) {
      const judge = tasks[item.task].judge || "judge";
      const scores = Object.entries(item.judge_scores || {}).map(([k, v]) => k + " " + v).join(", ");
      out.push(el("div", { class: "meta" }, "Judge " + judge + ": ", el("b", {}, labelText(labelKey(item))),
        item.reason ? " — " + item.reason : "", scores ? " (" + scores + ")" : ""));
    }
    const metrics = Object.entries(item.metrics || {}).map(([k, v]) => k + " = " + fmt(v)).join(" · ");
    out.push(el("div", { class: "meta" }, "Per-item metrics: " + (metrics || "none")));
    return out;
  }
  function header(item) {
    const task = tasks[item.task];
    return el("header", {}, el("span", { class: "badge" }, task.name), "doc " + item.id,
      el("code", { title: item.hash }, item.hash.slice(0, 12)), item.category ? "category " + item.category : null,
      el("span", { class: "badge " + item.outcome }, item.outcome),
      "headline " + task.headline + " = " + fmt(item.value));
  }
  function renderItem(i) {
    const item = items[i];
    const node = el("article", { class: "item " + item.outcome, "data-doc": String(item.id) }, header(item),
      el("h4", {}, "Prompt (as sent)"), el("pre", { class: "prompt" }, item.prompt));
    node.append(...answerBlock(item));
    return node;
  }
  function renderChange(change) {
    const item = items[change.item];
    const base = Object.assign({ task: item.task, id: item.id, hash: item.hash, category: item.category }, change.base);
    const node = el("article", { class: "item " + item.outcome, "data-doc": String(item.id) }, header(item));
    if (base.prompt === undefined) node.append(el("h4", {}, "Prompt (as sent, same in both runs)"),
      el("pre", { class: "prompt" }, item.prompt));
    const side = (title, it) => {
      const col = el("div", {}, el("h4", { class: "side" }, title, " ", el("span", { class: "badge " + it.outcome },
        it.outcome)));
      if (change.base.prompt !== undefined) col.append(el("h4", {}, "Prompt (as sent)"), el("pre", {}, it.prompt));
      col.append(...answerBlock(it));
      return col;
    };
    node.append(el("div", { class: "sides" }, side("Baseline: " + data.baseline, base), side("This run", item)));
    return node;
  }

  function render() {
    const list = $("b-items");
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE;
    const slice = shown.slice(start, start + PAGE);
    const byItem = state.mode === "changed" ? new Map(changed.map((c) => [c.item, c])) : null;
    list.replaceChildren(...slice.map((i) => (byItem ? renderChange(byItem.get(i)) : renderItem(i))));
    const total = state.mode === "changed" ? changed.length : items.length;
    status.textContent = shown.length
      ? `Showing ${start + 1}-${start + slice.length} of ${shown.length} matching items (${total} in all).`
      : `No item matches (${total} in all).`;
    status.dataset.query = state.query;
    $("b-page").textContent = `page ${state.page + 1} of ${pages}`;
    $("b-prev").disabled = state.page === 0;
    $("b-next").disabled = state.page >= pages - 1;
  }
  function update(resetPage) {
    shown = pool().filter(matches);
    if (resetPage) state.page = 0;
    render();
  }

  const browsable = tasks.map((t, k) => [String(k), `${t.name} (${t.n})`]).filter((_, k) => tasks[k].n > 0);
  fillSelect($("f-task"), browsable, "all tasks");
  const mode = $("f-mode");
  if (mode) {
    mode.addEventListener("change", () => { state.mode = mode.value; refreshChoices(); update(true); });
  }
  $("f-task").addEventListener("change", (e) => { state.task = e.target.value; refreshChoices(); update(true); });
  for (const key of ["category", "label", "outcome"]) {
    $("f-" + key).addEventListener("change", (e) => { state[key] = e.target.value; update(true); });
  }
  let timer = null;
  $("f-search").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.query = e.target.value.trim().toLowerCase(); update(true); }, 150);
  });
  $("b-prev").addEventListener("click", () => { state.page -= 1; render(); });
  $("b-next").addEventListener("click", () => { state.page += 1; render(); });
  refreshChoices();
  update(true);
  $("browser").setAttribute("data-ready-ms", String(Math.round(performance.now())));
  $("browser").setAttribute("data-ready", "1");
})();
