import cliProgress from 'cli-progress';

/** A progress display over a known number of steps. */
export interface Progress {
  /** Advances by one; `label` names what just finished. */
  increment(label: string): void;
  /** Prints a line without tearing the bar (errors per file). */
  log(line: string): void;
  stop(): void;
}

/**
 * A bar on stderr when stderr is a terminal; otherwise one line per step, so logs of a redirected run
 * still say what happened without carriage-return noise.
 */
export function createProgress(title: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) {
    let done = 0;
    return {
      increment: (label) => stream.write(`[${++done}/${total}] ${label}\n`),
      log: (line) => stream.write(`${line}\n`),
      stop: () => undefined,
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: `${title} [{bar}] {value}/{total} | {duration_formatted} | ETA {eta_formatted} | {label}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = multi.create(total, 0, { label: '' });
  return {
    increment: (label) => bar.increment(1, { label }),
    log: (line) => multi.log(`${line}\n`),
    stop: () => multi.stop(),
  };
}

/** A byte-count bar for a download; silent off a terminal apart from a start line. */
export function createDownloadProgress(stream: NodeJS.WriteStream = process.stderr): {
  update(name: string, receivedBytes: number, totalBytes: number | undefined): void;
  stop(): void;
} {
  const started = new Set<string>();
  if (!stream.isTTY) {
    return {
      update: (name, _received, totalBytes) => {
        if (started.has(name)) return;
        started.add(name);
        const size = totalBytes === undefined ? '' : ` (${(totalBytes / 1e6).toFixed(1)} MB)`;
        stream.write(`Downloading ${name}${size}…\n`);
      },
      stop: () => undefined,
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: '{name} [{bar}] {percentage}% | {receivedMb}/{totalMb} MB | ETA {eta_formatted}',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    update: (name, receivedBytes, totalBytes) => {
      const total = totalBytes ?? Math.max(receivedBytes, 1);
      const payload = { name, receivedMb: (receivedBytes / 1e6).toFixed(1), totalMb: totalBytes ? (totalBytes / 1e6).toFixed(1) : '?' };
      let bar = bars.get(name);
      if (!bar) {
        bar = multi.create(total, receivedBytes, payload);
        bars.set(name, bar);
      }
      bar.setTotal(total);
      bar.update(receivedBytes, payload);
    },
    stop: () => multi.stop(),
  };
}

/** Frames of one video: a bar with frames/s and time left on a terminal, else a line per tenth. */
export interface VideoProgress {
  update(framesDone: number): void;
  stop(): void;
}

/** Lines a redirected run prints per video (one per tenth of its frames). @default 10 */
export const VIDEO_PROGRESS_LINES = 10;

export function createVideoProgress(name: string, totalFrames: number, stream: NodeJS.WriteStream = process.stderr): VideoProgress {
  const started = performance.now();
  const rate = (done: number) => done / Math.max(1e-3, (performance.now() - started) / 1000);
  const left = (done: number) => (done === 0 ? Infinity : (totalFrames - done) / rate(done));
  if (!stream.isTTY) {
    let printed = 0;
    return {
      update: (done) => {
        const tenth = Math.floor((done * VIDEO_PROGRESS_LINES) / totalFrames);
        if (tenth <= printed && done < totalFrames) return;
        printed = tenth;
        stream.write(`${name}: ${done}/${totalFrames} frames, ${rate(done).toFixed(1)} frames/s, ${Math.ceil(left(done))} s left\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${name} [{bar}] {value}/{total} frames | {fps} frames/s | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalFrames, 0, { fps: '0.0' });
  return {
    update: (done) => bar.update(done, { fps: rate(done).toFixed(1) }),
    stop: () => bar.stop(),
  };
}
