// The portable latent sampler (version 1): the same algorithm, operation for operation, as
// ganforge/sampling.py, so seed s gives the same float32 latents in the browser as in
// `ganforge generate`. The module docstring of sampling.py is the specification; in short:
// SplitMix64 streams keyed by (seed, index), 52-bit uniforms, Box-Muller with ln/sin/cos written with
// + - * / only (Math.log/Math.sin may differ from libm in the last bit), rounding to float32, and
// truncation by taking the next in-range normals of the same stream. No DOM here: node runs this file
// in the tests to compare it bit for bit with Python.

export const SAMPLER = Object.freeze({ name: "splitmix64-boxmuller", version: 1 });
export const MAX_SEED = 2 ** 31 - 1;
export const MAX_INDEX = 2 ** 32;

const MASK = (1n << 64n) - 1n;
const GAMMA = 0x9E3779B97F4A7C15n;
const LN2 = 0.6931471805599453;
const SQRT_HALF = 0.7071067811865476;
const HALF_PI = 1.5707963267948966;

function series(terms, step) {
  const coefficients = [1.0];
  for (let k = 1; k < terms; k++) coefficients.push(step(coefficients[k - 1], k));
  return coefficients;
}

const LOG_TERMS = Array.from({ length: 12 }, (_, k) => 1 / (2 * k + 1));
const SIN_TERMS = series(12, (c, k) => -c / (2 * k * (2 * k + 1)));
const COS_TERMS = series(13, (c, k) => -c / ((2 * k - 1) * (2 * k)));

function horner(x2, terms) {
  let total = terms[terms.length - 1];
  for (let i = terms.length - 2; i >= 0; i--) total = total * x2 + terms[i];
  return total;
}

export function mix64(z) {
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & MASK;
  return z ^ (z >> 31n);
}

function uniform(word) {
  return (Number(word >> 12n) + 0.5) * 2 ** -52;
}

// ln u for u in (0, 1); frexp by exact doublings, as numpy.frexp gives it.
function log(u) {
  let m = u;
  let e = 0;
  while (m < 0.5) { m *= 2; e -= 1; }
  if (m < SQRT_HALF) { m *= 2; e -= 1; }
  const f = m - 1;
  const s = f / (2 + f);
  return 2 * s * horner(s * s, LOG_TERMS) + e * LN2;
}

// [sin, cos] of 2 pi u for u in [0, 1).
function sincos(u) {
  const quarter = u * 4;
  const quadrant = Math.floor(quarter);
  const x = (quarter - quadrant) * HALF_PI;
  const x2 = x * x;
  const sin = x * horner(x2, SIN_TERMS);
  const cos = horner(x2, COS_TERMS);
  return [[sin, cos], [cos, -sin], [-sin, -cos], [-cos, sin]][quadrant];
}

export function streamKey(seed, index) {
  return mix64(BigInt(seed) * 2n ** 32n + BigInt(index));
}

// Box-Muller pair `pair` of the stream with key `key`: normals 2*pair and 2*pair+1, as float32 values.
function normalPair(key, pair) {
  const p = BigInt(pair);
  const u0 = uniform(mix64((key + (2n * p + 1n) * GAMMA) & MASK));
  const u1 = uniform(mix64((key + (2n * p + 2n) * GAMMA) & MASK));
  const radius = Math.sqrt(-2 * log(u0));
  const [sin, cos] = sincos(u1);
  return [Math.fround(radius * cos), Math.fround(radius * sin)];
}

// Reads a stream's normals in order from `position`, computing each Box-Muller pair once.
export function normalStream(key, position = 0) {
  let pair = -1;
  let values = null;
  return () => {
    const wanted = Math.floor(position / 2);
    if (wanted !== pair) { pair = wanted; values = normalPair(key, pair); }
    return values[position++ % 2];
  };
}

export function normals(key, start, count) {
  const next = normalStream(key, start);
  return Float32Array.from({ length: count }, next);
}

export function checkSeed(seed, what = "seed") {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(`${what} must be between 0 and ${MAX_SEED}, got ${seed}`);
  }
  return seed;
}

// Latent `index` of `seed` (Float32Array of zDim); truncation null or a threshold T.
export function latent(seed, index, zDim, truncation = null) {
  checkSeed(seed);
  const next = normalStream(streamKey(seed, index));
  const z = Float32Array.from({ length: zDim }, next);
  if (truncation === null) return z;
  for (let j = 0; j < zDim; j++) {
    if (Math.abs(z[j]) <= truncation) continue;
    let draw;
    do { draw = next(); } while (Math.abs(draw) > truncation);
    z[j] = draw;
  }
  return z;
}

// Latents start .. start+num-1 of `seed`, row-major (num x zDim), as the generator's input.
export function latents(seed, zDim, num, { start = 0, truncation = null } = {}) {
  if (start < 0 || start + num > MAX_INDEX) throw new RangeError(`latent indices ${start}..${start + num - 1} are out of range`);
  const out = new Float32Array(num * zDim);
  for (let i = 0; i < num; i++) out.set(latent(seed, start + i, zDim, truncation), i * zDim);
  return out;
}

// Labels of samples start .. start+num-1: the chosen classes cycled, or every class in turn.
export function labelsFor(numClasses, classes, num, start = 0) {
  if (numClasses <= 0) return null;
  const pool = classes && classes.length ? classes : Array.from({ length: numClasses }, (_, k) => k);
  return Array.from({ length: num }, (_, i) => pool[(start + i) % pool.length]);
}

// Spherical interpolation of two latents (rows of length zDim), as sampling.slerp: lerp when parallel.
export function slerp(a, b, t) {
  let na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { na += a[i] * a[i]; nb += b[i] * b[i]; }
  na = Math.max(Math.sqrt(na), 1e-12);
  nb = Math.max(Math.sqrt(nb), 1e-12);
  let cos = 0;
  for (let i = 0; i < a.length; i++) cos += (a[i] / na) * (b[i] / nb);
  const omega = Math.acos(Math.min(1, Math.max(-1, cos)));
  const sin = Math.sin(omega);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    out[i] = Math.abs(sin) < 1e-6 ? (1 - t) * a[i] + t * b[i]
      : (Math.sin((1 - t) * omega) * a[i] + Math.sin(t * omega) * b[i]) / sin;
  }
  return out;
}
