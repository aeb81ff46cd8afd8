// colorize serve: the page. Plain JavaScript, no libraries; it talks only to this server's /api.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  file: null,          // the chosen File
  reference: null,     // the chosen colour reference photo (a File), or null
  fileKey: 0,          // changes with every new file (confidence maps are cached per file and model)
  models: [],          // from /api/models
  photo: null,         // {w, h}: the photo's size in pixels (from the colour result)
  kind: "plain",       // what the colour image shows: "plain", "scribbles" or "sample"
  strokes: [],         // scribbles in the photo's pixels: {points: [[x, y], ...], color, width}
  history: [],         // earlier versions of strokes, for undo
  drawing: null,       // the stroke being painted, or "erase"
  eraser: false,
  resultUrl: null,
  requestId: 0,
  seq: 0,
  conf: new Map(),     // "fileKey/model/repaired|as-is/cleaned|as-is" -> object URL of a confidence map
  damage: new Map(),   // fileKey -> {url, count}: what "Repair scratches and dust" fills, white on black
};

// ---- messages --------------------------------------------------------------------------------

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function setStatus(message) {
  $("status").textContent = message;
}

function setBusy(delta) {
  const n = Number(document.body.dataset.busy || 0) + delta;
  document.body.dataset.busy = String(n);
}

// ---- talking to the server ---------------------------------------------------------------------

async function post(url, form, tries = 4) {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(url, { method: "POST", body: form });
    if (res.ok) return res;
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.error) message = body.error;
    } catch (e) { /* not JSON: keep the status line */ }
    if (res.status === 503 && attempt < tries) {
      const wait = Math.min(30, Number(res.headers.get("Retry-After")) || 2);
      setStatus(`The server is busy; trying again in ${wait} s…`);
      await new Promise((r) => setTimeout(r, wait * 1000));
      continue;
    }
    throw new Error(message);
  }
}

function baseForm(model) {
  const form = new FormData();
  form.append("image", state.file, state.file.name);
  form.append("model", model);
  form.append("saturation", $("saturation").value);
  return form;
}

function colourForm(model) {
  // baseForm plus the options that change the colorization itself (not the grey "before" side)
  const form = baseForm(model);
  if ($("restore").checked) form.append("restore", "true");
  if ($("denoise").checked) form.append("denoise", "true");
  if (state.reference) form.append("reference", state.reference, state.reference.name);
  return form;
}

function cleaned(label) {
  const steps = [];
  if ($("restore").checked) steps.push("scratches and dust repaired");
  if ($("denoise").checked) steps.push("grain cleaned");
  return steps.length ? `${label}, ${steps.join(" and ")} first` : label;
}

function currentModel() {
  return state.models.find((m) => m.name === $("model").value) || null;
}

// ---- models ------------------------------------------------------------------------------------

async function fetchModels(load) {
  const res = await fetch(`/api/models?load=${load}`);
  if (!res.ok) throw new Error((await res.json()).error || res.statusText);
  return (await res.json()).models;
}

async function loadModels() {
  // First the names at once, then (models are built on first use, some take a while) the cards
  // and what each model can do.
  try {
    state.models = await fetchModels(false);
  } catch (e) {
    showError(`Could not list the models: ${e.message}`);
    return;
  }
  const select = $("model");
  select.textContent = "";
  for (const m of state.models) {
    if (m.needs_hints) continue;  // levin is used through the scribble tools
    const opt = document.createElement("option");
    opt.value = m.name;
    opt.textContent = m.default ? `${m.name} (default)` : m.name;
    if (m.default) opt.selected = true;
    select.append(opt);
  }
  describeModel();
  try {
    state.models = await fetchModels(true);
    for (const m of state.models) {
      const opt = select.querySelector(`option[value="${m.name}"]`);
      if (opt && m.error) opt.disabled = true;
    }
    describeModel();
  } catch (e) {
    showError(`Could not load the models: ${e.message}`);
  }
}

function cardRows(card) {
  // /api/models gives the card as users read it (colorizer.cards.public_card)
  const rows = [];
  for (const key of ["quality", "speed", "licence"]) if (card[key]) rows.push([key, card[key]]);
  if (card.parameters) rows.push(["parameters", Number(card.parameters).toLocaleString("en")]);
  if (card.chroma_gain) rows.push(["chroma gain", String(card.chroma_gain)]);
  const ev = card.evaluation;
  if (ev && ev.scores) {
    const s = ev.scores;
    const fmt = (k) => (s[k] && s[k].mean != null ? Number(s[k].mean).toFixed(2) : "–");
    rows.push(["scores", `AuC ${fmt("auc")}, max-channel ${fmt("max_channel")}, colourfulness ${fmt("colourfulness")}`
      + (ev.images_scored ? ` on ${ev.images_scored} photos` : "")]);
  }
  if (card.train_images) rows.push(["trained on", `${card.train_images} photos`]);
  if (card.weaknesses) rows.push(["weaknesses", card.weaknesses]);
  if (card.history) rows.push(["full record", card.history]);
  return rows;
}

function describeModel() {
  const m = currentModel();
  const info = $("model-info");
  info.textContent = "";
  if (!m) return;
  const p = document.createElement("div");
  p.textContent = m.summary;
  info.append(p);
  if (m.card) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "model card";
    const dl = document.createElement("dl");
    for (const [k, v] of cardRows(m.card)) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dl.append(dt, dd);
    }
    details.append(summary, dl);
    info.append(details);
  }
  $("confidence").disabled = !(m.confidence && state.photo);
  if (!m.confidence) $("confidence").checked = false;
  const sampler = m.samples ? m : state.models.find((x) => x.samples && !x.error);
  $("samples").disabled = !(sampler && state.file);
  $("samples-note").textContent = sampler ? `Different colorizations from ${sampler.name}.` : "No model here samples.";
  updateConfidence();
  updateDamage();
}

// ---- choosing a photo --------------------------------------------------------------------------

function pickFile(file) {
  if (!file) return;
  clearError();
  state.file = file;
  state.fileKey += 1;
  state.photo = null;
  state.strokes = [];
  state.history = [];
  state.kind = "plain";
  for (const url of state.conf.values()) URL.revokeObjectURL(url);
  state.conf.clear();
  for (const found of state.damage.values()) URL.revokeObjectURL(found.url);
  state.damage.clear();
  clearThumbs();
  $("confidence").checked = false;
  $("show-damage").checked = false;
  const grey = $("grey");
  if (grey.src.startsWith("blob:")) URL.revokeObjectURL(grey.src);
  grey.dataset.fallback = "";
  grey.src = URL.createObjectURL(file);
  $("colour").removeAttribute("src");
  showStage(false);  // until the photo or its colorization can be shown
  $("colorize").disabled = false;
  updateButtons();
  describeModel();
  colorize("plain");
}

function showStage(on) {
  $("stage").hidden = !on;
  $("split").hidden = !on;
}

function revealResult() {
  // On a phone the picture sits above the controls: after an action down there, bring the result
  // into view (nothing moves when it is already in view, as on a desktop).
  const stage = $("stage");
  const r = stage.getBoundingClientRect();
  if (r.top >= 0 && r.bottom <= window.innerHeight) return;
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  stage.scrollIntoView({ behavior: still ? "auto" : "smooth",
    block: r.height > window.innerHeight ? "start" : "nearest" });
}

async function greyFallback() {
  // The browser cannot show this format (TIFF, 16-bit): ask the server for its grey version.
  const grey = $("grey");
  if (grey.dataset.fallback || !state.file) return;
  grey.dataset.fallback = "1";
  const key = state.fileKey;
  try {
    const res = await post("/api/colorize", baseForm("gray"));
    const blob = await res.blob();
    if (key === state.fileKey) grey.src = URL.createObjectURL(blob);
  } catch (e) {
    if (key === state.fileKey) showError(e.message);
  }
}

// ---- colorizing --------------------------------------------------------------------------------

function hintsJson() {
  return JSON.stringify({
    width: state.photo.w, height: state.photo.h,
    strokes: state.strokes.map((s) => ({ points: s.points, color: s.color, width: s.width })),
  });
}

async function colorize(kind, reveal = true) {
  if (!state.file) return;
  const m = currentModel();
  let form;
  let label;
  if (kind === "scribbles") {
    if (!state.strokes.length || !state.photo) {
      showError("Paint some scribbles on the photo first.");
      return;
    }
    const useModel = $("scribble-mode").value === "model" && m;
    form = colourForm(useModel ? m.name : "levin");
    form.append("hints", hintsJson());
    label = useModel ? `${m.name} corrected by your scribbles` : "your scribbles (Levin et al.)";
  } else {
    if (!m) return;
    form = colourForm(m.name);
    label = m.name;
  }
  label = cleaned(label);
  if (state.reference) label = `${label}, with the reference photo`;
  const id = ++state.requestId;
  clearError();
  setBusy(1);
  setStatus(`Colorizing with ${label}…`);
  const started = performance.now();
  try {
    const res = await post("/api/colorize", form);
    const blob = await res.blob();
    if (id !== state.requestId) return;  // a newer request has been made
    const name = (res.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
    await showResult(blob, name ? name[1] : "colorized.png");
    if (reveal) revealResult();
    state.kind = kind;
    thumbsPressed(-1);
    setStatus(`${label}: ${state.photo.w}×${state.photo.h} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    if (id === state.requestId) {
      showError(e.message);
      setStatus("");
    }
  } finally {
    setBusy(-1);
  }
}

function showResult(blob, filename) {
  return new Promise((resolve, reject) => {
    const colour = $("colour");
    const url = URL.createObjectURL(blob);
    colour.onload = () => {
      if (state.resultUrl && state.resultUrl !== url) URL.revokeObjectURL(state.resultUrl);
      state.resultUrl = url;
      state.photo = { w: colour.naturalWidth, h: colour.naturalHeight };
      showStage(true);
      const a = $("download");
      a.href = url;
      a.download = filename;
      a.setAttribute("aria-disabled", "false");
      colour.dataset.seq = String(++state.seq);
      updateButtons();
      describeModel();
      resizeCanvas();
      resolve();
    };
    colour.onerror = () => reject(new Error("the server's answer is not an image the browser can show"));
    colour.src = url;
  });
}

// ---- confidence map ----------------------------------------------------------------------------

function confKey(model) {
  return `${state.fileKey}/${model}/${$("restore").checked ? "repaired" : "as-is"}/`
    + `${$("denoise").checked ? "cleaned" : "as-is"}`;
}

function afterTag() {
  // what the right side of the divider shows: the colours, the confidence map or what was repaired
  const m = currentModel();
  const conf = $("confidence").checked && m && m.confidence;
  $("after-tag").textContent = conf ? "confidence" : $("show-damage").checked ? "repaired" : "after";
}

async function updateConfidence() {
  const m = currentModel();
  const conf = $("conf");
  const on = $("confidence").checked && m && m.confidence && state.file;
  afterTag();
  if (!on) {
    conf.hidden = true;
    $("conf-legend").hidden = true;
    return;
  }
  const key = confKey(m.name);
  if (!state.conf.has(key)) {
    setBusy(1);
    setStatus(`Confidence map from ${m.name}…`);
    try {
      const form = colourForm(m.name);  // the map of the photo that is coloured (cleaned or not)
      const res = await post("/api/confidence", form);
      state.conf.set(key, URL.createObjectURL(await res.blob()));
      setStatus("Confidence map: white where the model is sure, dark where it guessed.");
    } catch (e) {
      showError(e.message);
      $("confidence").checked = false;
      return;
    } finally {
      setBusy(-1);
    }
  }
  if ($("confidence").checked && key === confKey((currentModel() || {}).name)) {
    conf.src = state.conf.get(key);
    conf.hidden = false;
    $("conf-legend").hidden = false;
  }
}

// ---- what was repaired ------------------------------------------------------------------------

async function updateDamage() {
  // "Show what was repaired": the places "Repair scratches and dust" fills, white on black, on the
  // right of the divider (as the confidence map); one request per photo, kept until the next one
  const box = $("show-damage");
  box.disabled = !($("restore").checked && state.photo);
  if (!$("restore").checked) box.checked = false;
  const img = $("damage");
  afterTag();
  if (!(box.checked && state.file)) {
    img.hidden = true;
    $("damage-legend").hidden = true;
    return;
  }
  const key = state.fileKey;
  if (!state.damage.has(key)) {
    setBusy(1);
    setStatus("Looking for scratches and dust…");
    try {
      const form = new FormData();
      form.append("image", state.file, state.file.name);
      const res = await post("/api/damage", form);
      const count = Number(res.headers.get("X-Repaired-Pixels")) || 0;
      const blob = await res.blob();
      if (key !== state.fileKey) return;  // another photo was chosen meanwhile
      state.damage.set(key, { url: URL.createObjectURL(blob), count });
      setStatus(count ? "White shows what was repaired; drag the divider to compare with the photo."
        : "No scratches or dust were found in this photo.");
    } catch (e) {
      if (key === state.fileKey) {
        showError(e.message);
        box.checked = false;
        afterTag();
      }
      return;
    } finally {
      setBusy(-1);
    }
  }
  if (box.checked && key === state.fileKey) {
    const found = state.damage.get(key);
    img.src = found.url;
    img.hidden = false;
    const share = state.photo ? (100 * found.count) / (state.photo.w * state.photo.h) : 0;
    $("damage-amount").textContent = found.count
      ? `${share < 0.1 ? "under 0.1" : share.toFixed(1)}% of the photo was repaired.`
      : "Nothing in this photo needed repairing.";
    $("damage-legend").hidden = false;
  }
}

function showOnly(which) {
  // the confidence map and what was repaired take the same place: ticking one clears the other
  const other = which === "confidence" ? "show-damage" : "confidence";
  if ($(which).checked && $(other).checked) $(other).checked = false;
  updateConfidence();
  updateDamage();
}

// ---- alternatives ------------------------------------------------------------------------------

function clearThumbs() {
  // each thumbnail's blob: URL holds a full-size PNG until it is revoked
  for (const img of $("thumbs").querySelectorAll("img")) URL.revokeObjectURL(img.src);
  $("thumbs").textContent = "";
}

function thumbsPressed(index) {
  [...$("thumbs").children].forEach((b, i) => b.setAttribute("aria-pressed", String(i === index)));
}

async function samples() {
  const m = currentModel();
  const sampler = m && m.samples ? m : state.models.find((x) => x.samples && !x.error);
  if (!sampler || !state.file) return;
  const k = Math.max(2, Math.min(8, Number($("samples-k").value) || 4));
  const form = colourForm(sampler.name);
  form.append("k", String(k));
  const key = state.fileKey;
  clearError();
  setBusy(1);
  setStatus(`${k} colorizations from ${cleaned(sampler.name)}…`);
  try {
    const res = await post("/api/samples", form);
    const body = await res.json();
    if (key !== state.fileKey) return;
    const thumbs = $("thumbs");
    clearThumbs();
    body.samples.forEach((b64, i) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const blob = new Blob([bytes], { type: "image/png" });
      const button = document.createElement("button");
      button.type = "button";
      button.title = `alternative ${i + 1}`;
      const img = document.createElement("img");
      img.alt = `alternative ${i + 1}`;
      img.src = URL.createObjectURL(blob);
      button.append(img);
      button.addEventListener("click", async () => {
        await showResult(blob, body.names[i]);
        revealResult();
        state.kind = "sample";
        thumbsPressed(i);
        setStatus(`Alternative ${i + 1} of ${body.samples.length} from ${body.model}.`);
      });
      thumbs.append(button);
    });
    setStatus(`Pick one of ${body.samples.length} alternatives from ${body.model}.`);
  } catch (e) {
    showError(e.message);
    setStatus("");
  } finally {
    setBusy(-1);
  }
}

// ---- the before/after divider ------------------------------------------------------------------

function setSplit(percent) {
  const p = Math.max(0, Math.min(100, percent));
  $("stage").style.setProperty("--split", `${p}%`);
  $("split").value = String(p);
}

function splitFromEvent(e) {
  const r = $("stage").getBoundingClientRect();
  setSplit(((e.clientX - r.left) / r.width) * 100);
}

// ---- scribbles ---------------------------------------------------------------------------------

function updateButtons() {
  const ready = Boolean(state.photo);
  $("paint").disabled = !ready;
  $("undo").disabled = !state.history.length;
  $("clear").disabled = !state.strokes.length;
  $("apply-scribbles").disabled = !(ready && state.strokes.length);
  if (!ready) {
    $("download").setAttribute("aria-disabled", "true");
    $("download").removeAttribute("href");
  }
}

function resizeCanvas() {
  const canvas = $("scribbles");
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(r.width * dpr));
  canvas.height = Math.max(1, Math.round(r.height * dpr));
  redraw();
}

function redraw() {
  const canvas = $("scribbles");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.photo) return;
  const sx = canvas.width / state.photo.w;
  const sy = canvas.height / state.photo.h;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of state.strokes) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = Math.max(1, s.width * sx);
    ctx.beginPath();
    if (s.points.length === 1) {
      ctx.arc(s.points[0][0] * sx, s.points[0][1] * sy, Math.max(0.5, (s.width * sx) / 2), 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(x * sx, y * sy) : ctx.moveTo(x * sx, y * sy)));
    ctx.stroke();
  }
}

function toPhoto(e) {
  const r = $("scribbles").getBoundingClientRect();
  const x = ((e.clientX - r.left) / r.width) * state.photo.w;
  const y = ((e.clientY - r.top) / r.height) * state.photo.h;
  return [Math.round(Math.max(0, Math.min(state.photo.w - 1, x))),
    Math.round(Math.max(0, Math.min(state.photo.h - 1, y)))];
}

const MAX_BRUSH = 1000;  // the widest stroke the server takes (MAX_HINT_WIDTH), in the photo's pixels

function brushWidth() {
  // the brush slider is in screen pixels; strokes are stored in the photo's pixels
  const r = $("scribbles").getBoundingClientRect();
  const width = Math.round((Number($("brush-size").value) * state.photo.w) / Math.max(1, r.width));
  return Math.max(1, Math.min(MAX_BRUSH, width));
}

function remember() {
  state.history.push(state.strokes.slice());
  if (state.history.length > 200) state.history.shift();
}

function eraseAt(p) {
  const radius = brushWidth() / 2;
  const keep = state.strokes.filter((s) => !s.points.some(([x, y]) =>
    Math.hypot(x - p[0], y - p[1]) <= radius + s.width / 2));
  if (keep.length !== state.strokes.length) {
    state.strokes = keep;
    redraw();
  }
}

function paintStart(e) {
  if (!state.photo || !$("paint").checked) return;
  e.preventDefault();
  $("scribbles").setPointerCapture(e.pointerId);
  remember();
  const p = toPhoto(e);
  if (state.eraser) {
    state.drawing = "erase";
    eraseAt(p);
  } else {
    state.drawing = { points: [p], color: $("brush-color").value, width: brushWidth() };
    state.strokes.push(state.drawing);
    redraw();
  }
}

function paintMove(e) {
  if (!state.drawing) return;
  e.preventDefault();
  const p = toPhoto(e);
  if (state.drawing === "erase") {
    eraseAt(p);
    return;
  }
  const last = state.drawing.points[state.drawing.points.length - 1];
  if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 1) {
    state.drawing.points.push(p);
    redraw();
  }
}

function paintEnd() {
  if (!state.drawing) return;
  state.drawing = null;
  // drop an eraser pass that erased nothing from the undo history
  const before = state.history[state.history.length - 1];
  if (before && before.length === state.strokes.length && before.every((s, i) => s === state.strokes[i])) {
    state.history.pop();
  }
  updateButtons();
}

// ---- wiring ------------------------------------------------------------------------------------

function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

function rerun(reveal = true) {
  // with the scribbles cleared or undone since, a plain colorization (not "paint some first")
  colorize(state.kind === "scribbles" && state.strokes.length ? "scribbles" : "plain", reveal);
}

function pickReference(f) {
  state.reference = f || null;
  $("reference-name").textContent = f ? `Reference: ${f.name}` : "";
  $("reference-clear").hidden = !f;
  if (!f) $("reference").value = "";
  if (state.file) rerun();
}

function init() {
  const file = $("file");
  file.addEventListener("change", () => pickFile(file.files[0]));
  const reference = $("reference");
  reference.addEventListener("change", () => pickReference(reference.files[0]));
  $("reference-clear").addEventListener("click", () => pickReference(null));
  const refDrop = $("ref-drop");
  refDrop.addEventListener("dragover", (e) => {
    e.preventDefault();
    e.stopPropagation();
    refDrop.classList.add("over");
  });
  refDrop.addEventListener("dragleave", () => refDrop.classList.remove("over"));
  refDrop.addEventListener("drop", (e) => {
    e.preventDefault();
    e.stopPropagation();
    refDrop.classList.remove("over");
    if (e.dataTransfer.files.length) pickReference(e.dataTransfer.files[0]);
  });
  const drop = $("drop");
  for (const target of [drop, $("viewer")]) {
    target.addEventListener("dragover", (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
    target.addEventListener("dragleave", () => drop.classList.remove("over"));
    target.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer.files.length) pickFile(e.dataTransfer.files[0]);
    });
  }
  $("grey").addEventListener("error", greyFallback);
  $("grey").addEventListener("load", () => showStage(true));
  $("model").addEventListener("change", () => {
    describeModel();
    if (state.file) rerun();
  });
  const later = debounce(() => rerun(false), 350);  // the slider stays under the finger
  $("saturation").addEventListener("input", () => {
    $("saturation-value").textContent = Number($("saturation").value).toFixed(2);
    if (state.file) later();
  });
  $("restore").addEventListener("change", () => {
    if (state.file) rerun();  // as a change of model or saturation does
    updateConfidence();  // a shown map follows: it is of the repaired photo when the box is ticked
    updateDamage();  // "Show what was repaired" is there while the box is ticked
  });
  $("denoise").addEventListener("change", () => {
    if (state.file) rerun();  // as a change of model or saturation does
    updateConfidence();  // a shown map follows: it is of the cleaned photo when the box is ticked
  });
  $("colorize").addEventListener("click", () => colorize("plain"));
  $("confidence").addEventListener("change", () => showOnly("confidence"));
  $("show-damage").addEventListener("change", () => showOnly("show-damage"));
  $("samples").addEventListener("click", samples);

  const stage = $("stage");
  let dragging = false;
  stage.addEventListener("pointerdown", (e) => {
    if ($("paint").checked) return;
    dragging = true;
    stage.setPointerCapture(e.pointerId);
    splitFromEvent(e);
  });
  stage.addEventListener("pointermove", (e) => dragging && splitFromEvent(e));
  stage.addEventListener("pointerup", () => { dragging = false; });
  stage.addEventListener("pointercancel", () => { dragging = false; });
  $("split").addEventListener("input", () => setSplit(Number($("split").value)));
  setSplit(50);

  const canvas = $("scribbles");
  canvas.addEventListener("pointerdown", paintStart);
  canvas.addEventListener("pointermove", paintMove);
  canvas.addEventListener("pointerup", paintEnd);
  canvas.addEventListener("pointercancel", paintEnd);
  $("paint").addEventListener("change", () => {
    stage.classList.toggle("painting", $("paint").checked);
  });
  $("eraser").addEventListener("click", () => {
    state.eraser = !state.eraser;
    $("eraser").setAttribute("aria-pressed", String(state.eraser));
  });
  $("undo").addEventListener("click", () => {
    if (!state.history.length) return;
    state.strokes = state.history.pop();
    redraw();
    updateButtons();
  });
  $("clear").addEventListener("click", () => {
    remember();
    state.strokes = [];
    redraw();
    updateButtons();
  });
  $("apply-scribbles").addEventListener("click", () => colorize("scribbles"));
  window.addEventListener("resize", debounce(resizeCanvas, 100));
  new ResizeObserver(() => resizeCanvas()).observe($("grey"));
  updateButtons();
  loadModels();
  startLive();
}

// ---- the live source (colorize serve --live SOURCE) -------------------------------------------

async function startLive() {
  let info;
  try {
    const r = await fetch("/api/live/status");
    if (!r.ok) return;
    info = await r.json();
  } catch (e) {
    return;
  }
  if (!info.source) return;  // this server shows no live source
  $("live-view").hidden = false;
  $("live").src = "/api/live";
  const say = (s) => {
    if (s.error) $("live-status").textContent = `The live source stopped: ${s.error}`;
    else if (!s.running && s.frames) $("live-status").textContent = "The live source has ended.";
    else $("live-status").textContent = s.dropped
      ? `${s.frames} frames shown; ${s.dropped} skipped to keep up with the source.`
      : `${s.frames} frames shown.`;
  };
  say(info);
  setInterval(async () => {
    try {
      const r = await fetch("/api/live/status");
      if (r.ok) say(await r.json());
    } catch (e) { /* the server has stopped */ }
  }, 2000);
}

init();
