import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_BLEND, DEFAULT_MAX_FACES, DEFAULT_MAX_OUTPUT_PIXELS, DEFAULT_UPSCALE, MAX_FACES_LIMIT, MAX_UPSCALE, OUTPUT_EXTS, defaultJobMemoryMiB } from '@revive/contract';
// Only light modules at the top: every command's own modules are imported in its action. `revive healthcheck` runs
// every 30 s inside the worker's task and must not load sharp, onnxruntime-node or the AWS SDK (with them it took
// 0.45 s and 118 MB; without, about 0.1 s and 50 MB: `pnpm vitest run packages/worker/test/image-layout.test.ts`).
import {
  DEFAULT_DETECTOR,
  DEFAULT_DEVICE,
  DEFAULT_FIDELITY,
  DEFAULT_RESTORER,
  DEFAULT_SCORE_THRESHOLDS,
  DEFAULT_THREADS,
  DEFAULT_VIDEO_CRF,
  DETECTOR_KINDS,
  EXECUTION_DEVICES,
} from '@revive/pipeline/defaults';
import { describeError, EXIT_CODES, EXIT_CODES_HELP, exitCodeFor } from './exit-codes.js';

/**
 * Builds the `revive` program. Actions store their exit code instead of calling process.exit, so a
 * caller (bin, tests) decides what to do with it and pending writes are flushed.
 */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('revive')
    .description('GFPGAN-style face restoration with ONNX models: restore photos locally, or serve jobs from SQS.')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride();

  program
    .command('restore')
    .description(
      'Restore the faces in photos and videos (files, or folders walked for both) into an output folder laid out like GFPGAN: restored_imgs/ (videos too), restored_faces/, cropped_faces/, cmp/ and report.json.',
    )
    .argument('<inputs...>', 'image or video files (.mp4 .mov .m4v .mkv .webm), or folders')
    .requiredOption('-o, --output <dir>', 'output folder')
    .option('-s, --upscale <factor>', `output scale of the whole photo, 1 to ${MAX_UPSCALE}`, String(DEFAULT_UPSCALE))
    .option('-r, --restorer <id|path>', 'restorer: catalogue id or .onnx file', DEFAULT_RESTORER)
    .option('--detector <id|path>', 'face detector: catalogue id or .onnx file', DEFAULT_DETECTOR)
    .addOption(new Option('--detector-kind <kind>', 'decoder for a detector file whose name does not say').choices(DETECTOR_KINDS))
    .option('--bg-upsampler <id|path>', 'ONNX background super-resolution model (default: bicubic, Catmull-Rom with exact pixel centres, in the WebAssembly kernels)')
    .option('--only-center-face', 'restore only the face closest to the image centre')
    .option('--max-faces <n>', `restore at most this many faces per photo, the largest; report.json counts the rest (facesDetected), 1 to ${MAX_FACES_LIMIT}`, String(DEFAULT_MAX_FACES))
    .option('--aligned', 'inputs are already aligned face crops: restore them only')
    .option('--blend <0..1>', '0 keeps the original face, 1 the restored one', String(DEFAULT_BLEND))
    .option('--fidelity <0..1>', 'CodeFormer-style weight, for restorers with a second input', String(DEFAULT_FIDELITY))
    .addOption(new Option('--ext <ext>', 'output format; auto keeps the input\'s, alpha forces png').choices(OUTPUT_EXTS).default('auto'))
    .option('--suffix <text>', 'suffix of restored images and faces')
    .option('--crf <0..51>', 'quality of restored videos (x264 constant rate factor: lower is better and larger)', String(DEFAULT_VIDEO_CRF))
    .option('--threads <n>', 'onnxruntime intra-op threads; 0 lets onnxruntime choose', String(DEFAULT_THREADS))
    .addOption(new Option('--device <device>', 'where the models run; cuda fails clearly when unavailable').choices(EXECUTION_DEVICES).default(DEFAULT_DEVICE))
    .option('--models-dir <dir>', 'model folder (default: $REVIVE_MODELS_DIR or ~/.cache/revive/models)')
    .option('--score-threshold <0..1>', `minimum face detection score (default: the detector's own: ${Object.entries(DEFAULT_SCORE_THRESHOLDS).map(([k, v]) => `${k} ${v}`).join(', ')})`)
    .option('--max-pixels <n>', 'largest input accepted, in pixels (decompression-bomb guard)')
    .option('--max-output-pixels <n>', `largest output accepted, input pixels × upscale² (default: ${DEFAULT_MAX_OUTPUT_PIXELS})`)
    .option('--job-memory-mib <n>', `working memory one photo may need, in MiB (default: ${defaultJobMemoryMiB(1)})`)
    .option('--no-download', 'never download missing models')
    .option('--no-save-faces', 'skip cropped_faces/, restored_faces/ and cmp/')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (inputs: string[], options: Record<string, unknown>) => {
      enableSourceMaps();
      const { runRestore } = await import('./restore-command.js');
      setExitCode(await runRestore(inputs, options));
    });

  const models = program.command('models').description('List or download the catalogue models.');
  models
    .command('list')
    .description('list the catalogue and which models are in the models folder')
    .option('--models-dir <dir>', 'model folder (default: $REVIVE_MODELS_DIR or ~/.cache/revive/models)')
    .action(async (options: { modelsDir?: string }) => {
      const { runModelsList } = await import('./models-command.js');
      setExitCode(runModelsList(options));
    });
  models
    .command('fetch')
    .description('download models into the models folder (resumes, verifies sha256)')
    .argument('<ids...>', 'catalogue ids')
    .option('--models-dir <dir>', 'model folder (default: $REVIVE_MODELS_DIR or ~/.cache/revive/models)')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (ids: string[], options: { modelsDir?: string }) => {
      const { runModelsFetch } = await import('./models-command.js');
      setExitCode(await runModelsFetch(ids, options));
    });

  program
    .command('serve')
    .description('run the queue worker (configuration from REVIVE_* environment variables) until SIGTERM')
    .action(async () => {
      enableSourceMaps();
      const { serveMain } = await import('../service/main.js');
      await serveMain(process.env);
    });
  program
    .command('healthcheck')
    .description('exit 0 when the worker\'s heartbeat is fresh, 1 otherwise (container health check)')
    .action(async () => {
      // Not service/main.js: that module loads the whole worker (pipeline, AWS SDK) to serve.
      const { healthcheckMain } = await import('../service/healthcheck.js');
      setExitCode(await healthcheckMain(process.env));
    });
  return program;
}

/**
 * Stack traces of the long-running commands point into the sources (dist/ ships its maps). Turned on here, not
 * with `node --enable-source-maps`, so that only the chunks these commands load afterwards have their maps read:
 * `revive healthcheck`, every 30 s, stays at ≈ 50 MB instead of ≈ 65 MB (the serve chunk's map costs ≈ 25 MB and
 * a third more import time, once per task start).
 */
function enableSourceMaps(): void {
  process.setSourceMapsEnabled(true);
}

/** Runs `revive` with `argv` (node-style: [node, script, ...args]) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = EXIT_CODES.ok;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; every other parse failure is bad usage.
      return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    process.stderr.write(`revive: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}
