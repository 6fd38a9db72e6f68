/** SVG charts drawn in the page (no chart library): stacked bars, horizontal bars, a Lorenz curve. */

/** Okabe–Ito: distinct for colour-blind readers (the HTML report uses the same). */
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

export interface Series {
  name: string;
  color: string;
  values: number[];
}

/** Two decimals, or three significant digits below 1 (a demo's GPU-hours are small). */
const fmt = (v: number) => (v === 0 ? "0" : Math.abs(v) >= 1 ? (Math.round(v * 100) / 100).toLocaleString("en-US") : String(Number(v.toPrecision(3))));

function niceStep(max: number): number {
  const raw = max / 5;
  const pow = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * pow) return m * pow;
  return 10 * pow;
}

function Legend(props: { series: { name: string; color: string }[] }) {
  return (
    <ul class="legend">
      {props.series.map((s) => (
        <li key={s.name}>
          <span style={`background:${s.color}`} />
          {s.name}
        </li>
      ))}
    </ul>
  );
}

export function StackedBars(props: { id: string; title: string; categories: string[]; series: Series[]; unit: string }) {
  const W = 420,
    H = 240,
    left = 56,
    right = 8,
    top = 12,
    bottom = 30;
  const plotW = W - left - right,
    plotH = H - top - bottom;
  const totals = props.categories.map((_, i) => props.series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
  const max = Math.max(0, ...totals);
  // An empty chart keeps a plain 0–1 axis.
  const step = max > 0 ? niceStep(max) : 0.2;
  const yMax = max > 0 ? Math.ceil(max / step) * step : 1;
  const band = plotW / Math.max(1, props.categories.length);
  const barW = Math.max(2, Math.min(56, band * 0.7));
  const y = (v: number) => top + plotH - (v / yMax) * plotH;
  const ticks: number[] = [];
  for (let v = 0; v <= yMax + 1e-9; v += step) ticks.push(v);
  const empty = totals.every((t) => t === 0);
  return (
    <figure id={props.id}>
      <figcaption>
        {props.title} ({props.unit})
      </figcaption>
      <Legend series={props.series} />
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.title}: ${props.categories.map((c, i) => `${c} ${fmt(totals[i]!)}`).join(", ")}`}>
        {ticks.map((v) => (
          <g key={v}>
            <line x1={left} x2={W - right} y1={y(v)} y2={y(v)} stroke="#ddd" />
            <text x={left - 6} y={y(v) + 4} text-anchor="end" font-size="11" fill="#333">
              {fmt(v)}
            </text>
          </g>
        ))}
        {props.categories.map((cat, i) => {
          const x = left + band * i + (band - barW) / 2;
          let acc = 0;
          return (
            <g key={cat}>
              {props.series.map((s) => {
                const v = s.values[i] ?? 0;
                if (v <= 0) return null;
                const y0 = y(acc),
                  y1 = y(acc + v);
                acc += v;
                return (
                  <rect key={s.name} class="bar" x={x} y={y1} width={barW} height={Math.max(1, y0 - y1)} fill={s.color}>
                    <title>{`${s.name} ${cat}: ${fmt(v)} ${props.unit}`}</title>
                  </rect>
                );
              })}
              <text x={x + barW / 2} y={H - bottom + 16} text-anchor="middle" font-size="11" fill="#333">
                {cat}
              </text>
            </g>
          );
        })}
        <line x1={left} x2={W - right} y1={top + plotH} y2={top + plotH} stroke="#333" />
        {empty && (
          <text x={W / 2} y={H / 2} text-anchor="middle" fill="#555">
            nothing to show
          </text>
        )}
      </svg>
    </figure>
  );
}

export function HorizontalBars(props: { id: string; title: string; items: { label: string; value: number }[]; unit: string }) {
  const W = 420,
    rowH = 24,
    left = 104,
    right = 64;
  const H = Math.max(50, 10 + props.items.length * rowH);
  const max = Math.max(1e-9, ...props.items.map((i) => i.value));
  const plotW = W - left - right;
  return (
    <figure id={props.id}>
      <figcaption>
        {props.title} ({props.unit})
      </figcaption>
      <svg
        class="chart"
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${props.title}: ${props.items.map((i) => `${i.label} ${fmt(i.value)}`).join(", ") || "nothing to show"}`}
      >
        {props.items.map((it, i) => {
          const w = Math.max(1, (it.value / max) * plotW);
          const yy = 6 + i * rowH;
          return (
            <g key={it.label}>
              <text x={left - 6} y={yy + 14} text-anchor="end" font-size="11" font-family="monospace" fill="#333">{`${it.label.slice(0, 6)}…${it.label.slice(-4)}`}</text>
              <rect class="bar" x={left} y={yy + 3} width={w} height={rowH - 8} fill={PALETTE[0]}>
                <title>{`${it.label}: ${fmt(it.value)} ${props.unit}`}</title>
              </rect>
              <text x={left + w + 4} y={yy + 14} font-size="11" fill="#333">
                {fmt(it.value)}
              </text>
            </g>
          );
        })}
        {!props.items.length && (
          <text x={W / 2} y={30} text-anchor="middle" fill="#555">
            nothing to show
          </text>
        )}
      </svg>
    </figure>
  );
}

/** The Lorenz curve against the line of equality. */
export function LorenzChart(props: { id: string; title: string; points: { population: number; share: number }[]; gini: number | null }) {
  const S = 260,
    pad = 36;
  const px = (v: number) => pad + v * (S - 2 * pad);
  const py = (v: number) => S - pad - v * (S - 2 * pad);
  const path = props.points.map((p, i) => `${i ? "L" : "M"}${px(p.population).toFixed(1)},${py(p.share).toFixed(1)}`).join(" ");
  return (
    <figure id={props.id}>
      <figcaption>{props.title}</figcaption>
      <svg
        class="chart"
        viewBox={`0 0 ${S} ${S}`}
        style="max-width:340px"
        role="img"
        aria-label={`${props.title}: Gini coefficient ${props.gini === null ? "undefined (nothing consumed)" : props.gini.toFixed(3)}`}
      >
        <rect x={pad} y={pad} width={S - 2 * pad} height={S - 2 * pad} fill="none" stroke="#333" />
        <line class="equality" x1={px(0)} y1={py(0)} x2={px(1)} y2={py(1)} stroke="#767676" stroke-dasharray="4 3" />
        {props.points.length > 0 && <path class="lorenz" d={`${path} L${px(1)},${py(0)} Z`} fill="#0072B233" stroke="none" />}
        {props.points.length > 0 && <path class="lorenz-line" d={path} fill="none" stroke={PALETTE[0]} stroke-width="2.5" />}
        <text x={S / 2} y={S - 8} text-anchor="middle" font-size="11" fill="#333">
          share of employees (least first)
        </text>
        <text x={12} y={S / 2} text-anchor="middle" font-size="11" fill="#333" transform={`rotate(-90 12 ${S / 2})`}>
          share of GPU-hours used
        </text>
        {!props.points.length && (
          <text x={S / 2} y={S / 2} text-anchor="middle" fill="#555">
            nothing consumed
          </text>
        )}
      </svg>
    </figure>
  );
}
