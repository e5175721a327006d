// Smart-pole signal models for the sim driver. Pure functions of (hour of day, PRNG, state)
// so they are deterministic for a seed and testable at any hour without waiting for it.

export const SIM_POINTS = ['pm25', 'temperature', 'humidity', 'noise_db', 'lamp_power', 'lamp_level'] as const;
export type SimPoint = (typeof SIM_POINTS)[number];

export const UNITS: Record<SimPoint, string> = {
  pm25: 'µg/m³',
  temperature: '°C',
  humidity: '%RH',
  noise_db: 'dB(A)',
  lamp_power: 'W',
  lamp_level: '%',
};

export { createPrng } from '../../runtime/prng.ts';

/** Standard normal from two uniforms (Box-Muller). */
export function gauss(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

// Fixed civil twilight times: seasons do not matter for a demo.
export const DUSK_H = 18.5;
export const DAWN_H = 6.5;

/** Schedule segment: a lamp override holds until the schedule itself changes. */
export function lampSegment(hour: number): 'day' | 'evening' | 'night' {
  if (hour >= DAWN_H && hour < DUSK_H) return 'day';
  return hour >= DUSK_H ? 'evening' : 'night';
}

/** Scheduled lamp level: off by day, full from dusk, dimmed to 30 % after midnight. */
export function scheduledLampLevel(hour: number): number {
  const seg = lampSegment(hour);
  return seg === 'day' ? 0 : seg === 'evening' ? 100 : 30;
}

/** Street noise baseline in dB(A) by hour: quiet nights, rush-hour peaks. */
export function trafficNoiseBase(hour: number): number {
  if (hour < 5) return 45;
  if (hour < 7) return 45 + (hour - 5) * 9; // morning ramp to 63
  if (hour < 9.5) return 68; // morning rush
  if (hour < 17) return 62;
  if (hour < 19.5) return 68; // evening rush
  if (hour < 23) return 58;
  return 50;
}

export interface SimState {
  pm25: number;
  pm25Spike: number;
  tempBias: number;
  level: number;
}

export function initialState(): SimState {
  return { pm25: 22, pm25Spike: 0, tempBias: 0, level: 0 };
}

const round = (v: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/** One value of one point at this hour; advances the random walks in `st`. */
export function sample(point: SimPoint, hour: number, rand: () => number, st: SimState): number {
  switch (point) {
    case 'temperature': return round(temperature(hour, rand, st), 2);
    case 'humidity': {
      // Relative humidity falls as air warms: inverse of the diurnal temperature curve.
      const t = 18 + 7 * Math.sin((2 * Math.PI * (hour - 9)) / 24) + st.tempBias;
      return round(clamp(62 - 2.4 * (t - 18) + gauss(rand) * 1.5, 15, 100), 1);
    }
    case 'pm25': {
      // Mean-reverting walk around 22 µg/m³ plus rare decaying spikes (a bus, a barbecue).
      st.pm25 = clamp(st.pm25 + (22 - st.pm25) * 0.02 + gauss(rand) * 1.2, 3, 60);
      if (st.pm25Spike < 1 && rand() < 1 / 600) st.pm25Spike = 70 + rand() * 80;
      st.pm25Spike *= 0.97;
      return round(st.pm25 + st.pm25Spike, 1);
    }
    case 'noise_db': {
      const horn = rand() < 0.01 ? 8 + rand() * 10 : 0;
      return round(clamp(trafficNoiseBase(hour) + gauss(rand) * 2 + horn, 30, 110), 1);
    }
    case 'lamp_level': return st.level;
    case 'lamp_power': return st.level > 0 ? round(Math.max(0, st.level * 1.2 + gauss(rand) * 0.8), 1) : round(0.4 + rand() * 0.2, 2);
  }
}

function temperature(hour: number, rand: () => number, st: SimState): number {
  // Diurnal sine peaking mid-afternoon, a slow weather drift, and sensor noise.
  st.tempBias = clamp(st.tempBias + gauss(rand) * 0.02, -3, 3);
  return 18 + 7 * Math.sin((2 * Math.PI * (hour - 9)) / 24) + st.tempBias + gauss(rand) * 0.2;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
