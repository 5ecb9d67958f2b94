import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import type { RestoreReport, RestoredImageReport } from '../src/cli/report.js';
import { readImage, type DecodedImage, type RgbImage } from '@revive/pipeline';
import { psnrFromSquaredError, squaredError, sharedDir } from '@revive/pipeline/testing';

const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');
const CLI = path.resolve(import.meta.dirname, '../src/cli.ts');

export interface CliRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `revive` from source in a child process, as a user would, with the shared models folder. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'), ...env },
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const exitCode = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ exitCode, stdout, stderr });
      },
    );
  });
}

export async function readReport(outputDir: string): Promise<RestoreReport> {
  return JSON.parse(await readFile(path.join(outputDir, 'report.json'), 'utf8')) as RestoreReport;
}

/** The report entry for an input file name; fails the test when it is missing or failed. */
export function restoredEntry(report: RestoreReport, fileName: string): RestoredImageReport {
  const entry = report.images.find((image) => path.basename(image.input) === fileName);
  if (!entry) throw new Error(`${fileName} is not in the report`);
  if (entry.status !== 'ok') throw new Error(`${fileName} failed: ${entry.error.code} ${entry.error.message}`);
  return entry;
}

export async function decodeBytes(bytes: Uint8Array): Promise<DecodedImage> {
  return await readImage(bytes, { maxPixels: 100_000_000 });
}

export async function decodeFile(file: string): Promise<DecodedImage> {
  return await decodeBytes(await readFile(file));
}

/** PSNR over the pixels inside the face boxes ([x1, y1, x2, y2]), pooled: one number per image. */
export function psnrInBoxes(a: RgbImage, b: RgbImage, boxes: readonly (readonly [number, number, number, number])[]): number {
  let sum = 0;
  let count = 0;
  for (const [x0, y0, x1, y1] of boxes) {
    const part = squaredError(a, b, { x0, y0, x1, y1 });
    sum += part.sum;
    count += part.count;
  }
  return psnrFromSquaredError(sum, count);
}

/** Mean of one channel over a rectangle. */
export function channelMean(image: RgbImage, channel: 0 | 1 | 2, rect: readonly [number, number, number, number]): number {
  const [x1, y1, x2, y2] = rect.map(Math.round) as [number, number, number, number];
  let sum = 0;
  let count = 0;
  for (let y = Math.max(0, y1); y < Math.min(image.height, y2); y++) {
    for (let x = Math.max(0, x1); x < Math.min(image.width, x2); x++) {
      sum += image.data[(y * image.width + x) * 3 + channel] ?? 0;
      count++;
    }
  }
  return sum / count;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A decompression bomb: a valid PNG of a few hundred bytes whose header declares width×height RGB pixels
 * (30000×30000 is 2.7 GB decoded). Only a few rows of data follow, so a decoder that trusts the header and
 * allocates first is what it catches.
 */
export function decompressionBombPng(width = 30_000, height = 30_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = deflateSync(Buffer.alloc((width * 3 + 1) * 4));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', rows),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

export const photosDir = (): string => path.join(sharedDir(), 'photos');
