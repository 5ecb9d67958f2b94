// The demo page's video and album flows in a real headless Chromium against the local stack (its worker included):
// a video chosen on the page goes up in parts through the /s3 proxy, becomes a video job whose progress the page
// shows, and the restored video plays in the page; several photos become an album whose photos and ZIP the page lists.
// Screenshots go to out/demo-screenshots (gitignored) for a person to look at. Fails (never skips) without chromium.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import type {} from '@revive/local-aws/vitest-setup';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { jobListResponseSchema } from '@revive/contract';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { REPO_ROOT, startLocalStack, type LocalStack } from '../src/stack.js';

const CHROMIUM = '/usr/bin/chromium';
/** 3 s, 480×640, 25 fps, VP9 + Opus (../shared/videos). */
const VIDEO = path.join(sharedDir(), 'videos', 'portrait_vp9.webm');
const VIDEO_SECONDS = 3;
const PHOTOS = ['blurry_face.jpg', '00.jpg', 'Blake_Lively.jpg'].map((name) => path.join(sharedDir(), 'photos', 'whole', name));
const SCREENSHOTS = path.join(REPO_ROOT, 'out', 'demo-screenshots');
const TENANT = `media-${Date.now().toString(36)}`;
/** A video job runs ffmpeg and the pipeline on every frame: minutes on a loaded machine, never a fixed sleep. */
const END_TIMEOUT_MS = 480_000;
let stack: LocalStack;
let browser: Browser;
let modelDir: string;
const workerLog: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the demo page test.`);
  }
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', path.join(REPO_ROOT, 'packages', 'client', 'tsconfig.build.json')]);
  await mkdir(SCREENSHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'] });
  modelDir = await mkdtemp(path.join(tmpdir(), 'revive-media-models-'));
  stack = await startLocalStack({
    target: inject('localAws'),
    port: 0,
    env: {
      ...process.env,
      REVIVE_RESTORER: await writeIdentityRestorer(modelDir),
      REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
      REVIVE_WAIT_TIME_SECONDS: '1',
    },
    workerOutput: (line) => workerLog.push(line),
    log: (line) => workerLog.push(line),
  });
}, 300_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

async function openPage(): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${stack.server.url}/?tenant=${TENANT}`);
  await page.locator('body[data-ready="true"]').waitFor();
  // The smallest job: no enlargement (the setting is under Settings).
  await page.locator('details.settings summary').click();
  await page.locator('#upscale').selectOption('1');
  await page.locator('details.settings summary').click();
  return { page, pageErrors };
}

async function mediaEnd(page: Page): Promise<string> {
  const status = page.locator('#media-status');
  await status.and(page.locator('[data-status="SUCCEEDED"], [data-status="FAILED"], [data-status="CANCELED"]')).waitFor({ timeout: END_TIMEOUT_MS });
  return (await status.getAttribute('data-status'))!;
}
const why = async (page: Page) => `${await page.locator('#media-error').textContent()}\n${workerLog.slice(-30).join('\n')}`;

it('restores a video chosen on the page: uploaded in parts with progress, the job followed, the restored video plays', async () => {
  const { page, pageErrors } = await openPage();
  await page.locator('#media-file').setInputFiles(VIDEO);
  expect(await mediaEnd(page), await why(page)).toBe('SUCCEEDED');

  // The upload went all the way, in parts through the /s3 proxy.
  expect(await page.evaluate<number[]>(`(() => { const bar = document.getElementById('media-upload'); return [bar.value, bar.max]; })()`)).toEqual([87831, 87831]);
  expect(await page.locator('#media-upload').getAttribute('data-done')).toBe('true');
  // The tenant's video job (its segments are jobs too, listed beside it).
  const res = await fetch(`${stack.server.url}/jobs?limit=100`, { headers: { 'x-revive-tenant': TENANT } });
  const job = jobListResponseSchema.parse(await res.json()).jobs.find((j) => j.kind === 'video')!;
  expect(job).toMatchObject({ kind: 'video', status: 'SUCCEEDED' });
  expect(job.progress?.done).toBe(job.progress?.total);
  expect(await page.locator('#media-progress-text').textContent()).toContain(`${job.progress!.total} of ${job.progress!.total} segments`);

  // The restored video plays in the page, with the input's length and size (upscale 1).
  await page.locator('#media-video').waitFor({ state: 'visible' });
  await page.waitForFunction(`(() => { const v = document.getElementById('media-video'); return v.readyState >= 2 && v.duration > 0; })()`, undefined, { timeout: 60_000 });
  const played = await page.evaluate<{ duration: number; width: number; height: number; time: number }>(`(async () => {
    const v = document.getElementById('media-video');
    v.muted = true;
    await v.play();
    await new Promise((resolve) => v.addEventListener('timeupdate', resolve, { once: true }));
    return { duration: v.duration, width: v.videoWidth, height: v.videoHeight, time: v.currentTime };
  })()`);
  expect(played.width).toBe(480);
  expect(played.height).toBe(640);
  expect(Math.abs(played.duration - VIDEO_SECONDS)).toBeLessThan(0.2);
  expect(played.time).toBeGreaterThan(0);
  // Each answer presigns anew (another signature): the object is what counts.
  const objectOf = (url: string | null) => new URL(url ?? '', stack.server.url).pathname;
  expect(objectOf(await page.locator('#media-download').getAttribute('href'))).toBe(objectOf(job.output!.url));
  await page.screenshot({ path: path.join(SCREENSHOTS, 'video-restored.png'), fullPage: true });
  expect(pageErrors).toEqual([]);
  await page.close();
}, END_TIMEOUT_MS + 120_000);

it('restores several photos chosen on the page as one album: progress, each photo restored, the ZIP to download', async () => {
  const { page, pageErrors } = await openPage();
  await page.locator('#media-file').setInputFiles(PHOTOS);
  expect(await mediaEnd(page), await why(page)).toBe('SUCCEEDED');
  const res = await fetch(`${stack.server.url}/jobs?limit=100`, { headers: { 'x-revive-tenant': TENANT } });
  const album = jobListResponseSchema.parse(await res.json()).jobs.find((job) => job.kind === 'album')!;
  expect(album).toMatchObject({ status: 'SUCCEEDED', progress: { total: PHOTOS.length, done: PHOTOS.length, failed: 0 } });
  await page.locator('#media-album li img').nth(PHOTOS.length - 1).waitFor();
  expect(await page.locator('#media-album li').count()).toBe(PHOTOS.length);
  // Every photo's result loaded (no broken image).
  await page.waitForFunction(`[...document.querySelectorAll('#media-album img')].filter((img) => img.complete && img.naturalWidth > 0).length === ${PHOTOS.length}`, undefined, { timeout: 60_000 });
  const objectOf = (url: string | null) => new URL(url ?? '', stack.server.url).pathname;
  expect(objectOf(await page.locator('#media-download').getAttribute('href'))).toBe(objectOf(album.output!.url));
  const zip = await fetch(new URL(album.output!.url, stack.server.url));
  expect(zip.status).toBe(200);
  expect(Buffer.from(await zip.arrayBuffer()).subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'album-restored.png'), fullPage: true });
  expect(pageErrors).toEqual([]);
  await page.close();
}, END_TIMEOUT_MS + 120_000);

it('says in words why a "video" that is really a photo is refused, and that a video and photos cannot go together', async () => {
  const { page, pageErrors } = await openPage();
  const photo = await readFile(PHOTOS[0]!);
  // Uploaded in parts like any video; POST /videos reads its first bytes and refuses it before any job exists.
  await page.locator('#media-file').setInputFiles({ name: 'holiday.webm', mimeType: 'video/webm', buffer: photo });
  expect(await mediaEnd(page)).toBe('FAILED');
  expect(await page.locator('#media-error').getAttribute('data-code')).toBe('INVALID_VIDEO');
  expect(await page.locator('#media-error').textContent()).toContain('not a video the service reads');

  await page.locator('#media-file').setInputFiles([VIDEO, PHOTOS[0]!]);
  await page.locator('#media-error[data-code="NOT_VIDEO_OR_PHOTOS"]').waitFor();
  expect(await page.locator('#media-status').getAttribute('data-status')).toBe('FAILED');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'video-refused.png'), fullPage: true });
  expect(pageErrors).toEqual([]);
  await page.close();
});
