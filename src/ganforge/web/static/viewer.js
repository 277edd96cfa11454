// The panel of one run, shared by `ganforge serve` (app.js: pictures come from the server's API) and the
// exported page (site.js: the generator runs in the browser). A source makes the pictures:
//   source.samples({seed, num, class, truncation})  -> {picture}     (raw input strings; the source checks them)
//   source.animation({seed_a, seed_b, frames, num, class, truncation}) -> {gif: url} or {frames, frameMs, holdMs}
// Everything shown is inserted with textContent, never innerHTML, so no name can inject markup.

import { displayWidth, drawPicture } from "./grid.js";
import { readHash, writeHash } from "./state.js";

const $ = (id) => document.getElementById(id);
const METRIC_COLUMNS = ["fid", "kid", "is", "precision", "recall", "density", "coverage", "fd_digits",
  "modes", "high_quality", "reverse_kl"];

export function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

export function formatNumber(v) {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3);
}

function canvasBlob(canvas) {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

export function createViewer(source) {
  const view = { run: null, downloadUrl: null, timer: null, pictures: 0, busy: false };

  function describe(run) {
    const what = run.kind === "points" ? `${run.channels}-D points` :
      `${run.resolution}×${run.resolution} ${run.channels === 1 ? "grey" : "colour"} images`;
    const classes = run.num_classes ? `, conditional on ${run.num_classes} classes` : "";
    const weights = run.ema ? "EMA generator" : "raw generator (no EMA kept)";
    return `${run.model} on ${run.dataset}, ${what}${classes}; ${run.steps} steps; ${weights}` +
      (run.loss ? `; loss ${run.loss}` : "");
  }

  function fillClasses(run) {
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
  }

  function setLimits(limits) {
    for (const id of ["seed", "seed-a", "seed-b"]) { $(id).min = 0; $(id).max = limits.max_seed; }
    $("num").min = 1; $("num").max = limits.max_images;
    $("interp-num").min = 1; $("interp-num").max = limits.max_images;
    $("frames").min = limits.min_frames; $("frames").max = limits.max_frames;
    $("truncation").title = `empty = off, else ${limits.min_truncation} to ${limits.max_truncation}`;
  }

  function renderArtifacts(run) {
    const box = $("artifacts");
    box.replaceChildren();
    $("no-artifacts").hidden = run.artifacts.length > 0;
    for (const { name, url } of run.artifacts) {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.alt = name;
      img.className = "artifact";
      img.src = url;
      const caption = document.createElement("figcaption");
      caption.className = "muted";
      caption.textContent = name;
      figure.append(img, caption);
      box.appendChild(figure);
    }
  }

  function renderMetrics(records) {
    $("metrics").hidden = !records || records.length === 0;
    if ($("metrics").hidden) return;
    const columns = METRIC_COLUMNS.filter((key) => records.some((r) => typeof r[key] === "number"));
    const head = document.createElement("tr");
    for (const name of ["step", ...columns]) {
      const th = document.createElement("th");
      th.textContent = name;
      head.appendChild(th);
    }
    $("metrics-table").tHead.replaceChildren(head);
    const body = $("metrics-table").tBodies[0];
    body.replaceChildren();
    for (const record of records) {
      const row = document.createElement("tr");
      for (const key of ["step", ...columns]) {
        const td = document.createElement("td");
        const value = record[key];
        td.textContent = typeof value === "number" ? formatNumber(value) : "—";
        row.appendChild(td);
      }
      body.appendChild(row);
    }
    const last = records[records.length - 1];
    $("protocol").textContent = JSON.stringify(last.protocol ?? {}, null, 2);
  }

  function clearPictures() {
    showMessage("");
    clearInterval(view.timer);
    $("grid-figure").hidden = true;
    $("animation-figure").hidden = true;
    $("grid").width = 0;
    $("grid").height = 0;
  }

  function show(run, limits) {
    view.run = run;
    $("run-panel").hidden = false;
    $("run-title").textContent = run.title || run.id;
    $("run-info").textContent = run.error ? run.error : describe(run);
    const isPoints = run.kind === "points";
    $("num-label").textContent = isPoints ? "points" : "images";
    $("interp-num-label").textContent = isPoints ? "points per frame" : "images per frame";
    if (isPoints && Number($("num").value) === 16) $("num").value = 256;
    if (!isPoints && Number($("num").value) === 256) $("num").value = 16;
    if (isPoints && Number($("interp-num").value) === 1) $("interp-num").value = 256;
    if (!isPoints && Number($("interp-num").value) === 256) $("interp-num").value = 1;
    setLimits(limits);
    fillClasses(run);
    clearPictures();
    renderArtifacts(run);
    renderMetrics(run.metrics);
    $("about").textContent = run.about || "";
  }

  function applyState(state) {
    for (const key of ["seed", "num", "truncation"]) if (state[key] != null) $(key).value = state[key];
    if (state.class != null && [...$("class").options].some((o) => o.value === state.class)) $("class").value = state.class;
  }

  async function busy(task) {
    view.busy = true;
    $("busy").hidden = false;
    for (const id of ["generate", "animate"]) $(id).disabled = true;
    try {
      await task();
      showMessage("");
    } catch (error) {
      showMessage(error.message);
    } finally {
      view.busy = false;
      $("busy").hidden = true;
      for (const id of ["generate", "animate"]) $(id).disabled = false;
    }
  }

  function chosenClass() {
    return view.run.num_classes ? $("class").value : "";
  }

  async function showSamples(picture, params) {
    // The download link is ready before the picture appears, so whoever sees the picture can save it.
    const scratch = document.createElement("canvas");
    drawPicture(scratch, picture);
    const blob = await canvasBlob(scratch);
    if (view.downloadUrl) URL.revokeObjectURL(view.downloadUrl);
    view.downloadUrl = URL.createObjectURL(blob);
    const link = $("download");
    link.href = view.downloadUrl;
    link.download = `${String(view.run.id).replace(/[^A-Za-z0-9_.-]+/g, "_")}-seed${params.seed}.png`;
    const canvas = $("grid");
    drawPicture(canvas, picture);
    canvas.style.width = displayWidth(canvas.width);
    canvas.dataset.picture = JSON.stringify(params);
    $("grid-caption").textContent = `seed ${params.seed}, ${params.num} samples` +
      (params.truncation ? `, truncation ${params.truncation}` : "") +
      (params.class ? `, class ${params.class}` : "");
    $("grid-figure").hidden = false;
  }

  function generate() {
    if (!view.run) return Promise.resolve();
    const params = { seed: $("seed").value.trim(), num: $("num").value.trim(), class: chosenClass(),
      truncation: $("truncation").value.trim() };
    return busy(async () => {
      const started = performance.now();
      const { picture } = await source.samples(params, view.run);
      await showSamples(picture, params);
      performance.measure("ganforge:samples", { start: started, detail: { num: params.num } });
      if (view.pictures++ === 0) performance.mark("ganforge:first-picture");
      writeHash({ ...readHash(), run: view.run.hashId, ...params });
    });
  }

  function play(canvas, frames, frameMs, holdMs) {
    let index = 0;
    const step = () => {
      drawPicture(canvas, frames[index]);
      const hold = index === 0 || index === frames.length - 1 ? holdMs : frameMs;
      index = (index + 1) % frames.length;
      view.timer = setTimeout(step, hold);
    };
    step();
  }

  function animate() {
    if (!view.run) return Promise.resolve();
    const params = { seed_a: $("seed-a").value.trim(), seed_b: $("seed-b").value.trim(),
      frames: $("frames").value.trim(), num: $("interp-num").value.trim(), class: chosenClass(),
      truncation: $("truncation").value.trim() };
    return busy(async () => {
      const result = await source.animation(params, view.run);
      clearTimeout(view.timer);
      const img = $("animation");
      const canvas = $("animation-canvas");
      img.hidden = !result.gif;
      canvas.hidden = Boolean(result.gif);
      if (result.gif) {
        img.onload = () => { img.style.width = displayWidth(img.naturalWidth); };
        img.src = result.gif;
      } else {
        play(canvas, result.frames, result.frameMs, result.holdMs);
        canvas.style.width = displayWidth(canvas.width);
      }
      $("animation-caption").textContent =
        `seed ${params.seed_a} → seed ${params.seed_b}, ${params.frames} frames (slerp)`;
      $("animation-figure").hidden = false;
    });
  }

  $("random-seed").addEventListener("click", () => {
    const max = Number($("seed").max) || 2147483647;
    $("seed").value = String(crypto.getRandomValues(new Uint32Array(1))[0] % (max + 1));
  });
  $("generate-form").addEventListener("submit", (event) => { event.preventDefault(); generate(); });
  $("interp-form").addEventListener("submit", (event) => { event.preventDefault(); animate(); });
  return { show, applyState, generate, animate };
}
