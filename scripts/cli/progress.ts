/**
 * A progress bar on stderr (cli-progress) for long sends; off with --json or when stderr is not
 * a terminal, so piped and machine-read output stays clean.
 */
import cliProgress from "cli-progress";

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
