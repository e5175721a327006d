// Plain-text tables for `wayside-fleet list` and `health`: columns padded to their widest cell,
// a header and a rule, no colours (pipes and logs read them as well as terminals).

/** Rows of cells under `headers`; cells are cut to `maxCell` characters. */
export function renderTable(headers: string[], rows: string[][], maxCell = 60): string {
  const cut = (s: string) => (s.length > maxCell ? s.slice(0, maxCell - 1) + '…' : s);
  const all = [headers, ...rows].map((r) => headers.map((_, i) => cut((r[i] ?? '').replace(/\s+/g, ' '))));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n') + '\n';
}

/** 93784 -> "1d 2h", 3720 -> "1h 2m", 75 -> "1m 15s". */
export function formatUptime(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** { zone: "north", kind: "pole" } -> "kind=pole,zone=north". */
export function formatTags(tags: Record<string, string> | undefined): string {
  if (!tags || !Object.keys(tags).length) return '-';
  return Object.keys(tags).sort().map((k) => `${k}=${tags[k]}`).join(',');
}
