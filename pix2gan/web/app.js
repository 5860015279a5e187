// pix2gan serve: the page's logic. Everything talks to this server's own /api (nothing leaves the origin).
"use strict";
const $ = (id) => document.getElementById(id);
const state = { model: null, photos: [], current: -1, reference: null, seq: 0, timer: null, resultUrl: null,
                samplesSeq: 0, samplesFirst: 0, sampleUrls: [] };
const SAMPLES = 6;  // a latent model's colourings shown at once, as thumbnails

function photo() { return state.photos[state.current] || null; }
function say(text, error = false) { $("status").textContent = text; $("status").classList.toggle("error", error); }
function busy(on) {
  $("busy").hidden = !on;
  $("result-figure").setAttribute("aria-busy", on ? "true" : "false");
}

async function loadModel() {
  const r = await fetch("/api/model");
  state.model = await r.json();
  const m = state.model;
  $("model-info").textContent = `model: working size ${m.size}, strength ${m.strength}` +
    `, flat areas ${m.flat === "fade" ? "faded" : "kept"}` +
    (m.hints ? ", takes colour points and a reference" : ", no colour hints") +
    (m.latent ? `, ${m.latent}-d latent (several colourings)` : "");
  $("strength").value = m.strength;
  $("strength-value").textContent = m.strength;
  $("flat").checked = m.flat === "fade";
  $("size").value = m.size;
  $("hint-tools").disabled = !m.hints;
  $("latent-row").hidden = !m.latent;
}

function addFiles(files) {
  for (const file of files) {
    if (!file.type.startsWith("image/")) { say(`${file.name}: not an image`, true); continue; }
    state.photos.push({ file, name: file.name, url: URL.createObjectURL(file), width: 0, height: 0,
                        points: [], history: [] });
  }
  renderPhotos();
  if (state.current < 0 && state.photos.length) select(0);
}

function renderPhotos() {
  const list = $("photos");
  list.replaceChildren();
  state.photos.forEach((p, i) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = p.name;
    b.setAttribute("aria-current", i === state.current ? "true" : "false");
    b.addEventListener("click", () => select(i));
    li.append(b);
    list.append(li);
  });
}

function select(i) {
  state.current = i;
  const p = photo();
  renderPhotos();
  $("gray").src = p.url;
  const probe = new Image();
  probe.onload = () => { p.width = probe.naturalWidth; p.height = probe.naturalHeight; renderPoints(); };
  probe.src = p.url;
  $("suggestions").replaceChildren();
  renderPoints();
  colorize(0, () => showSamples(state.samplesFirst));
}

// a latent model: SAMPLES colourings (seeds first, first + 1, ...) as thumbnails; a click on one shows it
async function showSamples(first) {
  const p = photo();
  if (!p || !state.model || !state.model.latent) return;
  const seq = ++state.samplesSeq, box = $("samples");
  state.samplesFirst = first;
  state.sampleUrls.forEach((u) => URL.revokeObjectURL(u));
  state.sampleUrls = [];
  box.replaceChildren();
  box.setAttribute("aria-busy", "true");
  for (let seed = first; seed < first + SAMPLES; seed++) {
    const f = form(p);
    f.set("seed", String(seed));
    f.append("preview", "160");
    const r = await fetch("/api/colorize", { method: "POST", body: f });
    if (seq !== state.samplesSeq) return;  // another photo or other colourings asked for meanwhile
    if (!r.ok) break;
    const url = URL.createObjectURL(await r.blob());
    state.sampleUrls.push(url);
    const b = document.createElement("button"), img = document.createElement("img");
    b.type = "button";
    b.className = "sample";
    b.dataset.seed = String(seed);
    b.setAttribute("aria-label", `show colouring ${seed}`);
    img.src = url;
    img.alt = `colouring ${seed}`;
    b.append(img);
    b.addEventListener("click", () => { $("seed").value = String(seed); markSample(); colorize(0); });
    box.append(b);
    markSample();
  }
  box.setAttribute("aria-busy", "false");
}

function markSample() {
  for (const b of $("samples").children) b.setAttribute("aria-pressed", String(b.dataset.seed === $("seed").value));
}

function hintsDocument(p) { return { points: p.points.map(({ x, y, color }) => ({ x, y, color })) }; }

function renderPoints() {
  const p = photo();
  const list = $("points"), markers = $("markers");
  list.replaceChildren();
  markers.replaceChildren();
  if (!p) return;
  p.points.forEach((pt, i) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = pt.color;
    const text = document.createElement("span");
    text.textContent = `(${pt.x}, ${pt.y}) ${pt.color}`;
    const rm = document.createElement("button");
    rm.type = "button";
    rm.textContent = "Remove";
    rm.setAttribute("aria-label", `remove the point at ${pt.x}, ${pt.y}`);
    rm.addEventListener("click", () => { remember(p); p.points.splice(i, 1); changed(); });
    li.append(sw, text, rm);
    list.append(li);
    if (!p.width) return;
    const m = document.createElement("button");
    m.type = "button";
    m.className = "marker";
    m.style.background = pt.color;
    m.style.left = `${(pt.x + 0.5) / p.width * 100}%`;
    m.style.top = `${(pt.y + 0.5) / p.height * 100}%`;
    m.setAttribute("aria-label", `colour point at ${pt.x}, ${pt.y}, ${pt.color}; Delete removes it`);
    m.addEventListener("keydown", (e) => {
      if (e.key === "Delete" || e.key === "Backspace") { remember(p); p.points.splice(i, 1); changed(); }
    });
    m.addEventListener("pointerdown", (e) => drag(e, i));
    markers.append(m);
  });
  const doc = JSON.stringify(hintsDocument(p));
  const link = $("download-hints");
  link.href = "data:application/json;charset=utf-8," + encodeURIComponent(doc);
  link.download = p.name.replace(/\.[^.]*$/, "") + ".json";
  link.setAttribute("aria-disabled", "false");
}

function remember(p) { p.history.push(JSON.stringify(p.points)); if (p.history.length > 100) p.history.shift(); }
function changed() { renderPoints(); colorize(); }

function pixelAt(e) {
  const img = $("result"), p = photo();
  const r = img.getBoundingClientRect();
  const x = Math.min(p.width - 1, Math.max(0, Math.floor((e.clientX - r.left) / r.width * p.width)));
  const y = Math.min(p.height - 1, Math.max(0, Math.floor((e.clientY - r.top) / r.height * p.height)));
  return { x, y };
}

function drag(e, i) {
  const p = photo();
  e.preventDefault();
  remember(p);
  const move = (ev) => { Object.assign(p.points[i], pixelAt(ev)); renderPoints(); };
  const up = (ev) => {
    window.removeEventListener("pointermove", move);
    window.removeEventListener("pointerup", up);
    Object.assign(p.points[i], pixelAt(ev));
    changed();
  };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
}

function form(p) {
  const f = new FormData();
  f.append("image", p.file, p.name);
  f.append("hints", JSON.stringify(hintsDocument(p)));
  f.append("strength", $("strength").value);
  f.append("flat", $("flat").checked ? "fade" : "keep");
  if ($("size").value) f.append("size", $("size").value);
  f.append("seed", $("seed").value || "0");
  if (state.reference) f.append("reference", state.reference, state.reference.name);
  return f;
}

// `then` runs once this result is shown (a click's suggestions: asked after its result, not queued ahead of it)
function colorize(delay = 150, then = null) {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    const p = photo();
    if (!p) return;
    const seq = ++state.seq;
    busy(true);
    say("colorizing…");
    try {
      const r = await fetch("/api/colorize", { method: "POST", body: form(p) });
      if (seq !== state.seq) return;  // a newer request supersedes this one
      if (!r.ok) { const e = await r.json(); say(e.error || `error ${r.status}`, true); return; }
      const blob = await r.blob();
      if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
      state.resultUrl = URL.createObjectURL(blob);
      $("result").src = state.resultUrl;
      const link = $("download");
      link.href = state.resultUrl;
      link.download = p.name.replace(/\.[^.]*$/, "") + "_color.png";
      link.setAttribute("aria-disabled", "false");
      say(`${p.name}: done (${p.points.length} point${p.points.length === 1 ? "" : "s"})`);
      if (then) then();
    } catch (err) {
      if (seq === state.seq) say(`could not reach the server: ${err}`, true);
    } finally {
      if (seq === state.seq) busy(false);
    }
  }, delay);
}

async function suggest(p, pt) {
  const f = new FormData();
  f.append("image", p.file, p.name);
  f.append("x", pt.x);
  f.append("y", pt.y);
  f.append("k", "8");
  const r = await fetch("/api/suggest", { method: "POST", body: f });
  if (!r.ok) return;
  const { colors } = await r.json();
  const box = $("suggestions");
  box.replaceChildren();
  for (const c of colors) {
    const b = document.createElement("button");
    b.type = "button";
    b.style.background = c;
    b.title = c;
    b.setAttribute("aria-label", `use ${c} for the point at ${pt.x}, ${pt.y}`);
    b.addEventListener("click", () => { remember(p); pt.color = c; $("hint-color").value = c; changed(); });
    box.append(b);
  }
}

$("result").addEventListener("click", (e) => {
  const p = photo();
  if (!p || !p.width || !state.model || !state.model.hints) return;
  remember(p);
  const pt = { ...pixelAt(e), color: $("hint-color").value };
  p.points.push(pt);
  renderPoints();
  colorize(0, () => suggest(p, pt));
});
$("upload").addEventListener("change", (e) => addFiles(e.target.files));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
$("strength").addEventListener("input", () => { $("strength-value").textContent = $("strength").value; colorize(); });
$("size").addEventListener("change", () => colorize());
$("flat").addEventListener("change", () => colorize());
$("seed").addEventListener("change", () => { markSample(); colorize(); });
$("more-samples").addEventListener("click", () => showSamples(state.samplesFirst + SAMPLES));
$("undo").addEventListener("click", () => {
  const p = photo();
  if (p && p.history.length) { p.points = JSON.parse(p.history.pop()); changed(); }
});
$("clear").addEventListener("click", () => { const p = photo(); if (p) { remember(p); p.points = []; changed(); } });
$("reference").addEventListener("change", (e) => { state.reference = e.target.files[0] || null; colorize(0); });
$("clear-reference").addEventListener("click", () => { state.reference = null; $("reference").value = ""; colorize(0); });
loadModel().catch((err) => say(`could not reach the server: ${err}`, true));
