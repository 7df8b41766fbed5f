import cliProgress from "cli-progress";
import { count, counted, writeLine, type CliStream } from "./cli-io.js";

/** How `order` shows codes arriving. */
export interface Progress {
  start(total: number): void;
  update(codes: number, blocks: number): void;
  stop(): void;
}

const SILENT: Progress = { start() {}, update() {}, stop() {} };

/**
 * A bar on a terminal; a line each time another 10 % has arrived when stderr is a file or pipe (a
 * redrawn bar would fill a log with escape codes); nothing with --json.
 */
export function createProgress(stderr: CliStream, json: boolean): Progress {
  if (json) return SILENT;
  return stderr.isTTY === true ? barProgress(stderr) : decileProgress(stderr);
}

function barProgress(stream: CliStream): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: "codes {bar} {percentage}% | {value}/{total} | {blocks} blocks | {duration_formatted} | ETA {eta_formatted}",
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    start: (total) => bar.start(total, 0, { blocks: 0 }),
    update: (codes, blocks) => bar.update(codes, { blocks }),
    stop: () => bar.stop(),
  };
}

function decileProgress(stream: CliStream): Progress {
  let total = 0;
  let shown = 0;
  return {
    start(t) {
      total = t;
      shown = 0;
    },
    update(codes, blocks) {
      const decile = total === 0 ? 10 : Math.floor((codes * 10) / total);
      if (decile <= shown) return;
      shown = decile;
      const percent = total === 0 ? 100 : Math.floor((codes * 100) / total);
      writeLine(stream, `received ${count(codes)}/${count(total)} codes (${percent}%) in ${counted(blocks, "block")}`);
    },
    stop() {},
  };
}
