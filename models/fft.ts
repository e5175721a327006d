// In-place radix-2 FFT for the sound analyzer (models/audio.ts): tables built once per size, no
// allocation per transform. Forward transform, no scaling: X[k] = Σ x[n]·e^(−2πi·kn/N).

export interface Fft {
  readonly size: number;
  /** Transforms (re, im) in place; both arrays must have exactly `size` elements. */
  transform(re: Float64Array, im: Float64Array): void;
}

export function createFft(size: number): Fft {
  if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0) {
    throw new Error(`fft: size ${size} is not a power of two ≥ 2`);
  }
  const bits = Math.round(Math.log2(size));
  const rev = new Uint32Array(size);
  for (let i = 0; i < size; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >>> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  const cos = new Float64Array(size / 2);
  const sin = new Float64Array(size / 2);
  for (let k = 0; k < size / 2; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / size);
    sin[k] = Math.sin((2 * Math.PI * k) / size);
  }

  return {
    size,
    transform(re, im) {
      if (re.length !== size || im.length !== size) {
        throw new Error(`fft: arrays of ${re.length} and ${im.length} elements given to a ${size}-point transform`);
      }
      for (let i = 0; i < size; i++) {
        const j = rev[i];
        if (j > i) {
          const tr = re[i]; re[i] = re[j]; re[j] = tr;
          const ti = im[i]; im[i] = im[j]; im[j] = ti;
        }
      }
      for (let len = 2; len <= size; len <<= 1) {
        const half = len >>> 1;
        const step = size / len;
        for (let start = 0; start < size; start += len) {
          for (let j = 0, k = 0; j < half; j++, k += step) {
            const a = start + j;
            const b = a + half;
            const c = cos[k];
            const s = sin[k];
            // (xr + i·xi)·(c − i·s)
            const tr = re[b] * c + im[b] * s;
            const ti = im[b] * c - re[b] * s;
            re[b] = re[a] - tr;
            im[b] = im[a] - ti;
            re[a] += tr;
            im[a] += ti;
          }
        }
      }
    },
  };
}

/** Periodic Hann window of n points (the STFT form: overlap-adds to a constant at 50 % hop). */
export function hannWindow(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}
