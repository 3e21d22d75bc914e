// A loss curve as a self-contained SVG (no plotting dependency): train and validation loss per step.

// Axis labels at round values, as plotting libraries place them: the smallest step of 1, 2 or 5
// times a power of ten that fits [lo, hi] in at most maxIntervals gaps (integer: steps of 1 or more).
// Each label is a multiple of the step, so the gaps are even and the decimals the step's.
export function niceTicks(lo: number, hi: number, maxIntervals: number, integer = false): { values: number[]; decimals: number } {
  const raw = (hi - lo) / Math.max(1, maxIntervals);
  let k = Math.floor(Math.log10(raw));
  let m = [1, 2, 5, 10].find((f) => f * 10 ** k >= raw * (1 - 1e-9))!;
  if (m === 10) [m, k] = [1, k + 1];
  if (integer && k < 0) [m, k] = [1, 0];
  const step = m * 10 ** k;
  const values: number[] = [];
  for (let i = Math.ceil(lo / step - 1e-9); i <= Math.floor(hi / step + 1e-9); i++) values.push(i * step);
  return { values, decimals: Math.max(0, -k) };
}

export function lossCurveSvg(trainPoints: [number, number][], valPoints: [number, number][], title: string, size = { width: 720, height: 400 }): string {
  const W = size.width, H = size.height, L = 60, R = 20, T = 40, B = 50, PAD = 8;
  // a NaN or infinite point has no place on the plot (and would break the SVG path)
  const finite = (pts: [number, number][]) => pts.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const train = finite(trainPoints), val = finite(valPoints);
  const all = [...train, ...val];
  if (!all.length) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"/>`;
  const xmax = Math.max(1, ...all.map((p) => p[0]));
  const ys = all.map((p) => p[1]);
  let ymin = Math.min(...ys), ymax = Math.max(...ys);
  // a flat curve gets a band around it, wide enough to survive rounding (a single point of a diverging run, 1e17, minus 0.5 is itself)
  if (ymax - ymin < 1e-6 * Math.max(1, Math.abs(ymax))) {
    const pad = 0.5 * Math.max(1, Math.abs(ymax));
    ymin -= pad;
    ymax += pad;
  }
  // the curves are drawn inset from the axes: step 0 (train.js's and the page's first held-out loss) and the lowest loss are points, not marks on an axis line
  const sx = (x: number) => L + PAD + ((W - L - R - 2 * PAD) * x) / xmax;
  const sy = (y: number) => T + PAD + ((H - T - B - 2 * PAD) * (ymax - y)) / (ymax - ymin);
  const path = (pts: [number, number][]) => pts.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
  // at most 9 gaps (as matplotlib), labels at least 70 px apart across and 25 px up the side
  const ticks: string[] = [];
  const yt = niceTicks(ymin, ymax, Math.min(9, Math.floor((H - T - B - 2 * PAD) / 25)));
  for (const y of yt.values) ticks.push(`<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/><text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${y.toFixed(yt.decimals)}</text>`);
  for (const x of niceTicks(0, xmax, Math.min(9, Math.floor((W - L - R - 2 * PAD) / 70)), true).values) ticks.push(`<text x="${sx(x)}" y="${H - B + 18}" text-anchor="middle">${x}</text>`);
  // the legend names only the curves drawn (the page's step-0 chart has only the held-out point)
  const legend = [...(train.length ? [['train loss', '#1f77b4']] : []), ...(val.length ? [['val loss', '#d62728']] : [])];
  // the viewBox lets a page scale it to its width
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${title.replace(/[<&>]/g, '')}</text>
${ticks.join('\n')}
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>
<text x="${W / 2}" y="${H - 12}" text-anchor="middle">step</text>
${train.length > 1 ? `<path d="${path(train)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>` : ''}${train.length === 1 ? `<rect x="${sx(train[0][0]) - 2}" y="${sy(train[0][1]) - 2}" width="4" height="4" fill="#1f77b4"/>` : ''}
${val.length ? `<path d="${path(val)}" fill="none" stroke="#d62728" stroke-width="2"/>${val.map(([x, y]) => `<circle cx="${sx(x)}" cy="${sy(y)}" r="3" fill="#d62728"/>`).join('')}` : ''}
${legend.map(([name, color], i) => `<text x="${W - R - 150}" y="${T + 14 + 16 * i}" fill="${color}">${name}</text>`).join('')}
</svg>
`;
}
