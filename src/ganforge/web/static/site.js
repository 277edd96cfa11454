// The exported page (`ganforge export --format web`): the run panel of `ganforge serve` (viewer.js),
// with pictures computed here by ONNX Runtime Web (WASM, one thread: a static host cannot send the
// COOP/COEP headers threads need) from generator.onnx and the latents of sampler.js, which are the
// latents `ganforge generate` draws. Everything loads from this folder: manifest.json says what.

import { emptyGrid, gridColumns, pasteSamples } from "./grid.js";
import { labelsFor, latents, slerp } from "./sampler.js";
import { classParam, intParam, readHash, truncationParam } from "./state.js";
import { createViewer, showMessage } from "./viewer.js";

const BATCH = 64; // samples per session.run: bounds the WASM heap for 256-image grids
const FRAME_MS = 80;
const HOLD_MS = 600; // the two seeds' frames stay a little longer, as in `ganforge generate --interpolate`

async function loadJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url} (HTTP ${response.status})`);
  return response.json();
}

function inputTensors(ort, manifest, z, labels, count) {
  const [zInput, labelInput] = manifest.onnx.inputs;
  const feeds = { [zInput.name]: new ort.Tensor("float32", z, [count, manifest.model.z_dim]) };
  if (labelInput) feeds[labelInput.name] = new ort.Tensor("int64", BigInt64Array.from(labels, BigInt), [count]);
  return feeds;
}

function onnxSource(ort, session, manifest) {
  const { model, limits } = manifest;
  const outputName = manifest.onnx.output.name;

  // Samples for latents z (num x z_dim, row-major) and labels, pasted into one grid.
  async function render(z, labels, num, classes) {
    const [height, width] = [model.resolution, model.resolution];
    const grid = emptyGrid(num, gridColumns(num, model.num_classes, classes), height, width);
    for (let start = 0; start < num; start += BATCH) {
      const count = Math.min(BATCH, num - start);
      const part = z.subarray(start * model.z_dim, (start + count) * model.z_dim);
      const feeds = inputTensors(ort, manifest, part, labels ? labels.slice(start, start + count) : null, count);
      const output = (await session.run(feeds))[outputName];
      pasteSamples(grid, output.data, output.dims, start);
      output.dispose?.();
    }
    return grid;
  }

  function common(params, maxImages) {
    return {
      num: intParam(params.num, 16, 1, maxImages, "number of images"),
      classes: classParam(params.class, model.num_classes, manifest.classes.map((c) => c.name)),
      truncation: truncationParam(params.truncation, limits),
    };
  }

  return {
    async samples(params) {
      const seed = intParam(params.seed, 0, 0, limits.max_seed, "seed");
      const { num, classes, truncation } = common(params, limits.max_images);
      const z = latents(seed, model.z_dim, num, { truncation });
      return { picture: await render(z, labelsFor(model.num_classes, classes, num), num, classes) };
    },
    async animation(params) {
      const seedA = intParam(params.seed_a, 0, 0, limits.max_seed, "first seed");
      const seedB = intParam(params.seed_b, 1, 0, limits.max_seed, "second seed");
      const frames = intParam(params.frames, 24, limits.min_frames, limits.max_frames, "frames");
      const { num, classes, truncation } = common(params, limits.max_images);
      if (seedA === seedB) throw new Error("pick two different seeds to interpolate between");
      if (num * frames > limits.max_interpolation_images) {
        throw new Error(`${num} images x ${frames} frames is too much; keep images x frames <= ${limits.max_interpolation_images}`);
      }
      const [a, b] = [seedA, seedB].map((seed) => latents(seed, model.z_dim, num, { truncation }));
      const labels = labelsFor(model.num_classes, classes, num);
      const pictures = [];
      for (let f = 0; f < frames; f++) {
        const t = f / (frames - 1);
        const z = new Float32Array(num * model.z_dim);
        for (let i = 0; i < num; i++) {
          const row = (x) => x.subarray(i * model.z_dim, (i + 1) * model.z_dim);
          z.set(slerp(row(a), row(b), t), i * model.z_dim);
        }
        pictures.push(await render(z, labels, num, classes));
      }
      return { frames: pictures, frameMs: FRAME_MS, holdMs: HOLD_MS };
    },
  };
}

function runInfo(manifest) {
  const { model, run } = manifest;
  const artifacts = Object.entries(manifest.artifacts).map(([name, url]) => ({ name, url }));
  const about = `exported by ganforge ${manifest.ganforge_version}; runs in this browser with ` +
    `${manifest.runtime.name} ${manifest.runtime.version} (WebAssembly); latents: sampler ` +
    `${manifest.sampler.name} v${manifest.sampler.version}, the same as \`ganforge generate\``;
  return {
    id: run.name, title: run.name, model: model.family,
    dataset: manifest.dataset, steps: model.steps, ema: model.ema, loss: run.loss,
    kind: "images", resolution: model.resolution, channels: model.channels, num_classes: model.num_classes,
    class_names: manifest.classes.map((c) => c.name), artifacts, metrics: manifest.metrics, about,
  };
}

async function main() {
  try {
    const manifest = await loadJson("manifest.json");
    document.title = `${manifest.run.name} · ganforge`;
    const ort = await import(new URL(manifest.runtime.entry, document.baseURI).href);
    // The .wasm by its URL (not a folder prefix, which would make the bundle import its glue separately).
    ort.env.wasm.wasmPaths = { wasm: new URL(manifest.runtime.wasm, document.baseURI).href };
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    const session = await ort.InferenceSession.create(new URL(manifest.onnx.file, document.baseURI).href,
      { executionProviders: ["wasm"] });
    const viewer = createViewer(onnxSource(ort, session, manifest));
    viewer.show(runInfo(manifest), manifest.limits);
    const restore = () => { viewer.applyState(readHash()); return viewer.generate(); };
    window.addEventListener("hashchange", restore);
    await restore();
  } catch (error) {
    document.getElementById("run-panel").hidden = false;
    showMessage(`cannot start the generator: ${error.message}`);
  }
}

main();
