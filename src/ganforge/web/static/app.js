// ganforge serve: the run list, and the shared run panel (viewer.js) with pictures from the server's API.
// The exported page (site.js) shows the same panel with pictures computed in the browser.

import { createViewer, formatNumber, showMessage } from "./viewer.js";
import { readHash, writeHash } from "./state.js";

const $ = (id) => document.getElementById(id);
const state = { runs: [], run: null, limits: {} };

// Fetch a picture; on HTTP errors throw the server's JSON message.
async function fetchBlob(path, params) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== ""));
  const response = await fetch(`${path}?${query}`);
  if (!response.ok) {
    let message = `request failed (HTTP ${response.status})`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.blob();
}

const apiSource = {
  async samples(params, run) {
    const blob = await fetchBlob("/api/generate", { run: run.id, ...params });
    return { picture: await createImageBitmap(blob) };
  },
  async animation(params, run) {
    const blob = await fetchBlob("/api/interpolate", { run: run.id, ...params });
    if (apiSource.gifUrl) URL.revokeObjectURL(apiSource.gifUrl);
    apiSource.gifUrl = URL.createObjectURL(blob);
    return { gif: apiSource.gifUrl };
  },
};

const viewer = createViewer(apiSource);

function formatBest(best) {
  const parts = [];
  for (const [name, entry] of Object.entries(best || {})) {
    parts.push(`${name} ${formatNumber(entry.value)}` + (entry.step != null ? ` @${entry.step}` : ""));
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
    row.tabIndex = 0;
    if (run.error) row.classList.add("broken");
    if (state.run && state.run.id === run.id) row.classList.add("selected");
    cell(row, run.id);
    cell(row, run.model || "?");
    cell(row, run.dataset || "?");
    cell(row, run.steps != null ? String(run.steps) : "?");
    cell(row, run.error ? `unusable: ${run.error}` : run.ema ? "EMA" : "raw");
    cell(row, formatBest(run.best));
    row.addEventListener("click", () => selectRun(run.id));
    row.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") selectRun(run.id); });
    body.appendChild(row);
  }
}

function selectRun(id, hashState = {}) {
  const run = state.runs.find((r) => r.id === id);
  if (!run) return;
  state.run = run;
  writeHash({ run: id });
  renderRuns();
  const artifacts = (run.artifacts || []).filter((n) => n !== "final.png") // every picture the server lists but the grid
    .map((name) => ({ name, url: `/api/artifact?${new URLSearchParams({ run: run.id, name })}` }));
  viewer.show({ ...run, hashId: run.id, artifacts, metrics: null }, state.limits);
  viewer.applyState(hashState);
  if (hashState.seed != null && !run.error) viewer.generate(); // a shared link shows its picture
}

async function loadRuns() {
  try {
    const response = await fetch("/api/runs");
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    state.runs = data.runs;
    state.limits = data.limits;
    $("root").textContent = `serving ${data.root}`;
    $("runs-panel").hidden = false;
    renderRuns();
    const wanted = readHash();
    const first = state.runs.find((r) => r.id === wanted.run) || state.runs.find((r) => !r.error) || state.runs[0];
    if (first) selectRun(first.id, first.id === wanted.run ? wanted : {});
  } catch (error) {
    $("run-panel").hidden = false;
    showMessage(`cannot list runs: ${error.message}`);
  }
}

loadRuns();
