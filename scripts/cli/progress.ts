/**
 * A progress bar on stderr (cli-progress) for long sends; off with --json or when stderr is not
 * a terminal, so piped and machine-read output stays clean.
 */
import cliProgress from "cli-progress";
import type { Progress as LogProgress } from "../../sdk/logs/fetchLogRanges.js";

export interface Progress {
  update(done: number): void;
  stop(): void;
}

export function progressBar(label: string, total: number, opts: { json: boolean }): Progress {
  if (opts.json || !process.stderr.isTTY || total === 0) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} rows | {percentage}% | eta {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (done) => bar.update(done),
    stop: () => bar.stop(),
  };
}

/**
 * Progress of a history read (sdk/logs/fetchLogRanges.ts) on stderr: redrawn in place on a
 * terminal, a line every 10% otherwise.
 */
export function stderrProgress(label: string, stream: NodeJS.WriteStream = process.stderr): (p: LogProgress) => void {
  let lastTenth = -1;
  let lastDraw = 0;
  return (p) => {
    const total = Number(p.toBlock - p.fromBlock + 1n);
    const done = Number(p.doneBlock - p.fromBlock + 1n);
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const pct = Math.floor(frac * 100);
    const text = `${label} [${"#".repeat(Math.round(frac * 30)).padEnd(30, ".")}] ${String(pct).padStart(3)}% block ${p.doneBlock}/${p.toBlock} · ${p.logs.toLocaleString("en-US")} events`;
    if (stream.isTTY) {
      const now = Date.now();
      if (frac < 1 && now - lastDraw < 100) return;
      lastDraw = now;
      stream.write(`\r${text}${frac >= 1 ? "\n" : ""}`);
    } else {
      const tenth = Math.floor(frac * 10);
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        stream.write(`${text}\n`);
      }
    }
  };
}
