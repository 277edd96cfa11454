// The page's state in the URL hash (#run=…&seed=7&num=16&class=3&truncation=0.7), so a link reproduces
// a picture, and the checks of the numbers a page reads from it or from its inputs. The messages are
// those `ganforge serve` answers with (web/server.py), so both pages say the same thing.

export const HASH_KEYS = ["run", "seed", "num", "class", "truncation"];

export function readHash(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const state = {};
  for (const key of HASH_KEYS) if (params.has(key)) state[key] = params.get(key);
  return state;
}

// Replace the hash without a hashchange event: only the user's own edits of the URL trigger one.
export function writeHash(state) {
  const params = new URLSearchParams();
  for (const key of HASH_KEYS) if (state[key] != null && state[key] !== "") params.set(key, state[key]);
  history.replaceState(null, "", `#${params}`);
}

const INT_TEXT = /^[+-]?\d{1,19}$/;

export function intParam(text, fallback, low, high, label) {
  const value = String(text ?? "").trim();
  if (value === "") return fallback;
  if (!INT_TEXT.test(value)) throw new Error(`${label} must be a whole number between ${low} and ${high}, got '${value.slice(0, 20)}'`);
  const number = Number(value);
  if (number < low || number > high) throw new Error(`${label} must be between ${low} and ${high}, got ${number}`);
  return number;
}

export function truncationParam(text, limits) {
  const value = String(text ?? "").trim().toLowerCase();
  if (["", "none", "off"].includes(value)) return null;
  const number = value.length <= 32 && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(value) ? Number(value) : NaN;
  const [low, high] = [limits.min_truncation, limits.max_truncation];
  if (!Number.isFinite(number) || number < low || number > high) {
    throw new Error(`truncation must be empty (off) or a number between ${low} and ${high}, got '${value.slice(0, 20)}'`);
  }
  return number;
}

// "" (every class in turn) or one class index; a class name is accepted too.
export function classParam(text, numClasses, classNames) {
  const value = String(text ?? "").trim();
  if (value === "" || value === "all" || numClasses <= 0) return null;
  const named = (classNames || []).indexOf(value);
  if (named >= 0) return [named];
  if (!/^\d+$/.test(value) || Number(value) >= numClasses) {
    throw new Error(`class ${value} is out of range: this generator has classes 0..${numClasses - 1}`);
  }
  return [Number(value)];
}
