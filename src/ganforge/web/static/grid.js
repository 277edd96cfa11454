// Sample grids, drawn the way ganforge/web/render.py draws them (GridCanvas, grid_columns): tiles in
// rows of `ncol`, a 2-pixel black gutter, grey images as RGB, and to_uint8's rule for the pixels, in
// float32 as torch computes it: x * 127.5 + 128, clamped to [0, 255], truncated.

export const PADDING = 2;

export function gridColumns(num, numClasses, classes, nrow = null) {
  if (nrow) return Math.max(1, Math.min(nrow, num));
  const pool = classes && classes.length ? classes.length : numClasses;
  if (pool >= 2 && pool <= 16 && num >= pool) return pool;
  return Math.max(1, Math.ceil(Math.sqrt(num)));
}

export function gridSize(num, ncol, height, width) {
  const rows = Math.ceil(num / ncol);
  return { width: ncol * (width + PADDING) + PADDING, height: rows * (height + PADDING) + PADDING };
}

export function toUint8(x) {
  const scaled = Math.fround(Math.fround(x * 127.5) + 128);
  return Math.trunc(Math.min(255, Math.max(0, scaled))) || 0; // NaN -> 0, as torch's uint8 cast gives
}

// An opaque black RGBA picture for `num` tiles of height x width in rows of `ncol`.
export function emptyGrid(num, ncol, height, width) {
  const size = gridSize(num, ncol, height, width);
  const pixels = new Uint8ClampedArray(size.width * size.height * 4);
  for (let i = 3; i < pixels.length; i += 4) pixels[i] = 255;
  return { width: size.width, height: size.height, ncol, tile: { width, height }, pixels };
}

// Paste `samples` (float32 NCHW in [-1, 1], dims [n, c, h, w]) as tiles start .. start+n-1.
export function pasteSamples(grid, samples, dims, start) {
  const [n, channels, height, width] = dims;
  const plane = height * width;
  for (let k = 0; k < n; k++) {
    const row = Math.floor((start + k) / grid.ncol);
    const col = (start + k) % grid.ncol;
    const top = PADDING + row * (height + PADDING);
    const left = PADDING + col * (width + PADDING);
    const base = k * channels * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const at = ((top + y) * grid.width + left + x) * 4;
        for (let ch = 0; ch < 3; ch++) {
          const source = base + Math.min(ch, channels - 1) * plane + y * width + x;
          grid.pixels[at + ch] = toUint8(samples[source]);
        }
      }
    }
  }
  return grid;
}

// Draw a picture ({width, height, pixels} RGBA, an ImageBitmap or an image) onto a canvas at 1:1.
export function drawPicture(canvas, picture) {
  canvas.width = picture.width;
  canvas.height = picture.height;
  const context = canvas.getContext("2d");
  if (picture.pixels) {
    context.putImageData(new ImageData(picture.pixels, picture.width, picture.height), 0, 0);
  } else {
    context.drawImage(picture, 0, 0);
  }
}

// Small samples are shown about 512 px wide (pixelated, not blurred); CSS keeps them within the screen.
export function displayWidth(naturalWidth) {
  const natural = Math.max(naturalWidth, 1);
  return `${natural >= 512 ? natural : Math.min(512, natural * 8)}px`;
}
