// ganforge serve: one page, no framework. Everything the server says is inserted with textContent,
// never innerHTML, so a run or class name cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { runs: [], run: null, limits: {}, gridUrl: null, gifUrl: null };

function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

function formatBest(best) {
  const parts = [];
  for (const [name, entry] of Object.entries(best || {})) {
    const v = entry.value;
    const value = Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3);
    parts.push(`${name} ${value}` + (entry.step != null ? ` @${entry.step}` : ""));
  }
  return parts.join(", ") || "—";
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function renderRuns() {
  const body = document.querySelector("#runs tbody");
  body.replaceChildren();
  $("runs-empty").hidden = state.runs.length > 0;
  for (const run of state.runs) {
    const row = document.createElement("tr");
    row.dataset.runId = run.id;
    if (run.error) row.classList.add("broken");
    if (state.run && state.run.id === run.id) row.classList.add("selected");
    cell(row, run.id);
    cell(row, run.model || "?");
    cell(row, run.dataset || "?");
    cell(row, run.steps != null ? String(run.steps) : "?");
    cell(row, run.error ? `unusable: ${run.error}` : run.ema ? "EMA" : "raw");
    cell(row, formatBest(run.best));
    row.addEventListener("click", () => selectRun(run.id));
    body.appendChild(row);
  }
}

function setLimits() {
  const L = state.limits;
  for (const id of ["seed", "seed-a", "seed-b"]) { $(id).min = 0; $(id).max = L.max_seed; }
  $("num").min = 1; $("num").max = L.max_images;
  $("interp-num").min = 1; $("interp-num").max = L.max_images;
  $("frames").min = L.min_frames; $("frames").max = L.max_frames;
  $("truncation").title = `empty = off, else ${L.min_truncation} to ${L.max_truncation}`;
}

function selectRun(id) {
  const run = state.runs.find((r) => r.id === id);
  if (!run) return;
  state.run = run;
  history.replaceState(null, "", `#run=${encodeURIComponent(id)}`);
  renderRuns();
  $("run-panel").hidden = false;
  $("run-title").textContent = run.id;
  const what = run.kind === "points" ? `${run.channels}-D points` :
    `${run.resolution}×${run.resolution} ${run.channels === 1 ? "grey" : "colour"} images`;
  const classes = run.num_classes ? `, conditional on ${run.num_classes} classes` : "";
  const weights = run.ema ? "EMA generator" : "raw generator (no EMA kept)";
  $("run-info").textContent = run.error ? run.error :
    `${run.model} on ${run.dataset}, ${what}${classes}; ${run.steps} steps; ${weights}` +
    (run.loss ? `; loss ${run.loss}` : "");
  const isPoints = run.kind === "points";
  $("num-label").textContent = isPoints ? "points" : "images";
  $("interp-num-label").textContent = isPoints ? "points per frame" : "images per frame";
  if (isPoints && Number($("num").value) === 16) $("num").value = 256;
  if (!isPoints && Number($("num").value) === 256) $("num").value = 16;
  if (isPoints && Number($("interp-num").value) === 1) $("interp-num").value = 256;
  if (!isPoints && Number($("interp-num").value) === 256) $("interp-num").value = 1;
  const select = $("class");
  select.replaceChildren();
  $("class-row").hidden = !run.num_classes;
  const all = document.createElement("option");
  all.value = "";
  all.textContent = "all (cycled)";
  select.appendChild(all);
  (run.class_names || []).forEach((name, index) => {
    const option = document.createElement("option");
    option.value = String(index);
    option.textContent = name === String(index) ? name : `${index}: ${name}`;
    select.appendChild(option);
  });
  showMessage("");
  $("grid-figure").hidden = true;
  $("animation-figure").hidden = true;
  renderArtifacts(run);
}

function renderArtifacts(run) {
  const box = $("artifacts");
  box.replaceChildren();
  // Every training picture the server lists (loss curves, metric curves, progress.gif) but the final grid.
  const names = (run.artifacts || []).filter((n) => n !== "final.png");
  $("no-artifacts").hidden = names.length > 0;
  for (const name of names) {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.alt = name;
    img.className = "artifact";
    img.src = `/api/artifact?${new URLSearchParams({ run: run.id, name })}`;
    const caption = document.createElement("figcaption");
    caption.className = "muted";
    caption.textContent = name;
    figure.append(img, caption);
    box.appendChild(figure);
  }
}

// Fetch an image; on HTTP errors show the server's JSON message instead.
async function fetchImage(path, params) {
  const response = await fetch(`${path}?${new URLSearchParams(params)}`);
  if (!response.ok) {
    let message = `request failed (HTTP ${response.status})`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return URL.createObjectURL(await response.blob());
}

function scaleUp(img) {
  // Small samples are shown about 512 px wide (pixelated, not blurred); naturalWidth stays the real size.
  const natural = Math.max(img.naturalWidth, 1);
  img.style.width = `${natural >= 512 ? natural : Math.min(512, natural * 8)}px`;
}

async function busy(task) {
  $("busy").hidden = false;
  for (const id of ["generate", "animate"]) $(id).disabled = true;
  try {
    await task();
  } catch (error) {
    showMessage(error.message);
  } finally {
    $("busy").hidden = true;
    for (const id of ["generate", "animate"]) $(id).disabled = false;
  }
}

function onGenerate(event) {
  event.preventDefault();
  if (!state.run) return;
  const params = {
    run: state.run.id, seed: $("seed").value.trim(), num: $("num").value.trim(),
    truncation: $("truncation").value.trim(),
  };
  if (state.run.num_classes && $("class").value !== "") params.class = $("class").value;
  busy(async () => {
    const url = await fetchImage("/api/generate", params);
    showMessage("");
    if (state.gridUrl) URL.revokeObjectURL(state.gridUrl);
    state.gridUrl = url;
    const img = $("grid");
    img.onload = () => scaleUp(img);
    img.src = url;
    const link = $("download");
    link.href = url;
    link.download = `${state.run.id.replace(/[^A-Za-z0-9_.-]+/g, "_")}-seed${params.seed}.png`;
    $("grid-caption").textContent = `seed ${params.seed}, ${params.num} samples` +
      (params.truncation ? `, truncation ${params.truncation}` : "");
    $("grid-figure").hidden = false;
  });
}

function onAnimate(event) {
  event.preventDefault();
  if (!state.run) return;
  const params = {
    run: state.run.id, seed_a: $("seed-a").value.trim(), seed_b: $("seed-b").value.trim(),
    frames: $("frames").value.trim(), num: $("interp-num").value.trim(), truncation: $("truncation").value.trim(),
  };
  if (state.run.num_classes && $("class").value !== "") params.class = $("class").value;
  busy(async () => {
    const url = await fetchImage("/api/interpolate", params);
    showMessage("");
    if (state.gifUrl) URL.revokeObjectURL(state.gifUrl);
    state.gifUrl = url;
    const img = $("animation");
    img.onload = () => scaleUp(img);
    img.src = url;
    $("animation-caption").textContent = `seed ${params.seed_a} → seed ${params.seed_b}, ${params.frames} frames (slerp)`;
    $("animation-figure").hidden = false;
  });
}

async function loadRuns() {
  try {
    const response = await fetch("/api/runs");
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    state.runs = data.runs;
    state.limits = data.limits;
    $("root").textContent = `serving ${data.root}`;
    setLimits();
    renderRuns();
    const wanted = new URLSearchParams(location.hash.slice(1)).get("run");
    const first = state.runs.find((r) => r.id === wanted) || state.runs.find((r) => !r.error) || state.runs[0];
    if (first) selectRun(first.id);
  } catch (error) {
    $("run-panel").hidden = false;
    showMessage(`cannot list runs: ${error.message}`);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("random-seed").addEventListener("click", () => {
    const max = state.limits.max_seed || 2147483647;
    const seed = crypto.getRandomValues(new Uint32Array(1))[0] % (max + 1);
    $("seed").value = String(seed);
  });
  $("generate-form").addEventListener("submit", onGenerate);
  $("interp-form").addEventListener("submit", onAnimate);
  loadRuns();
});
