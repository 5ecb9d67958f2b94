// The demo page in a real headless Chromium, on @revive/client served by the local server: drop a photo → upload →
// job → SUCCEEDED → comparison slider with the faces outlined (as many as the API's faces_found) and zoom; a
// non-image is refused with a message; a damaged JPEG fails with the worker's INVALID_IMAGE, in words. Screenshots of
// the empty, finished and failed states go to out/demo-screenshots (gitignored) for a person to look at.
// Fails (never skips) when Debian's chromium is missing: `.ci/run` installs it.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import type {} from '@revive/local-aws/vitest-setup';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { API_ERROR_CODES, JOB_ERROR_CODES, jobListResponseSchema } from '@revive/contract';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { chromium, type Browser, type Page, type Request, type Route } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { REPO_ROOT, startLocalStack, type LocalStack } from '../src/stack.js';
import { imageSize } from './image-size.js';

const CHROMIUM = '/usr/bin/chromium';
const PHOTO = path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg');
const SCREENSHOTS = path.join(REPO_ROOT, 'out', 'demo-screenshots');
const TENANT = `demo-${Date.now().toString(36)}`;
let stack: LocalStack;
let browser: Browser;
let modelDir: string;
const workerLog: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the demo page test.`);
  }
  // The page imports the client's built ESM, as `pnpm start` builds it.
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', path.join(REPO_ROOT, 'packages', 'client', 'tsconfig.build.json')]);
  await mkdir(SCREENSHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  modelDir = await mkdtemp(path.join(tmpdir(), 'revive-demo-models-'));
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
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

async function openPage(): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${stack.server.url}/?tenant=${TENANT}`);
  await page.locator('body[data-ready="true"]').waitFor();
  return { page, pageErrors };
}

/** Drops a file on the drop zone the way a browser does: a `drop` event whose DataTransfer holds a File. */
async function dropFile(page: Page, bytes: Buffer, name: string, type: string): Promise<void> {
  const dataTransfer = await page.evaluateHandle(`(() => {
    const binary = atob(${JSON.stringify(bytes.toString('base64'))});
    const data = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([data], ${JSON.stringify(name)}, { type: ${JSON.stringify(type)} }));
    return transfer;
  })()`);
  await page.locator('#dropzone').dispatchEvent('dragenter', { dataTransfer });
  await page.locator('#dropzone').dispatchEvent('drop', { dataTransfer });
}

/** Images that are shown but did not load: what a person sees as a broken-image icon. */
async function brokenImages(page: Page): Promise<string[]> {
  return await page.evaluate<string[]>(`[...document.images]
    .filter((img) => img.offsetParent !== null && (img.getAttribute('src') === null || !img.complete || img.naturalWidth === 0))
    .map((img) => img.id || img.src || img.outerHTML)`);
}

async function endState(page: Page): Promise<string> {
  const status = page.locator('#status');
  await status.and(page.locator('[data-status="SUCCEEDED"], [data-status="FAILED"], [data-status="ERROR"], [data-status="CANCELED"]')).waitFor({ timeout: 150_000 });
  return (await status.getAttribute('data-status'))!;
}

it('has a sentence for every code a person can meet: API problems, job failures, client errors', async () => {
  const script = await readFile(path.join(REPO_ROOT, 'packages', 'dev-stack', 'src', 'web', 'app.js'), 'utf8');
  // Loaded at run time: @revive/client is not a dependency of this package (the page gets it over HTTP).
  const clientErrors = pathToFileURL(path.join(REPO_ROOT, 'packages', 'client', 'src', 'errors.ts')).href;
  const { CLIENT_ERROR_CODES } = (await import(clientErrors)) as { CLIENT_ERROR_CODES: readonly string[] };
  const missing = [...API_ERROR_CODES, ...JOB_ERROR_CODES, ...CLIENT_ERROR_CODES].filter((code) => !new RegExp(`^\\s+${code}: \\['`, 'm').test(script));
  expect(missing).toEqual([]);
});

it('shows an inviting empty state: a drop zone, no broken images, no raw JSON', async () => {
  const { page, pageErrors } = await openPage();
  expect(await page.locator('#dropzone').isVisible()).toBe(true);
  expect(await page.getByLabel('choose a file').count()).toBe(1);
  expect(await page.locator('#job').isVisible()).toBe(false);
  expect(await page.locator('#recent-empty').isVisible()).toBe(true);
  expect(await brokenImages(page)).toEqual([]);
  expect(await page.locator('pre:visible').count()).toBe(0);
  await page.screenshot({ path: path.join(SCREENSHOTS, '1-empty.png'), fullPage: true });
  expect(pageErrors).toEqual([]);
  await page.close();
});

it('restores a dropped photo: comparison slider, faces outlined as many as faces_found, zoom, recent jobs', async () => {
  const input = imageSize(await readFile(PHOTO));
  const { page, pageErrors } = await openPage();
  await dropFile(page, await readFile(PHOTO), 'blurry_face.jpg', 'image/jpeg');
  const outcome = await endState(page);
  expect(outcome, `${await page.locator('#error').textContent()}\n${await page.locator('#details').textContent()}\n${workerLog.slice(-20).join('\n')}`).toBe('SUCCEEDED');
  await page.locator('#result').waitFor();

  // What the API says about this tenant's newest job.
  const res = await fetch(`${stack.server.url}/jobs?limit=1`, { headers: { 'x-revive-tenant': TENANT } });
  const job = jobListResponseSchema.parse(await res.json()).jobs[0]!;
  expect(job.status).toBe('SUCCEEDED');
  expect(job.metrics.faces_found).toBeGreaterThanOrEqual(1);
  expect(await page.locator('#faces .face-box').count()).toBe(job.metrics.faces_found);
  expect(await page.locator('#summary').textContent()).toContain(`${job.metrics.faces_found} face`);

  // Full resolution on both sides: the original as picked, the result at upscale × its size.
  const sizes = await page.evaluate<{ before: number[]; after: number[] }>(`(() => {
    const before = document.getElementById('before');
    const after = document.getElementById('after');
    return { before: [before.naturalWidth, before.naturalHeight], after: [after.naturalWidth, after.naturalHeight] };
  })()`);
  const upscale = Number(await page.locator('#upscale').inputValue());
  expect(sizes.before).toEqual([input.width, input.height]);
  expect(sizes.after).toEqual([input.width * upscale, input.height * upscale]);

  // The slider is a labelled range a keyboard moves; it moves the divider.
  const slider = page.getByLabel('Compare before and after');
  expect(await slider.isVisible()).toBe(true);
  await slider.focus();
  await page.keyboard.press('ArrowLeft');
  expect(await slider.inputValue()).toBe('49');
  expect(await page.evaluate<string>(`document.getElementById('stage').style.getPropertyValue('--split')`)).toBe('49%');
  await slider.fill('35');
  await page.screenshot({ path: path.join(SCREENSHOTS, '2-finished.png'), fullPage: true });

  // Zoom on the face: the stage scales up around it; "Whole photo" goes back.
  await page.getByRole('button', { name: 'Face 1' }).click();
  expect(await page.evaluate<string>(`document.getElementById('stage').style.transform`)).toMatch(/scale\((?!1\))[\d.]+\)/);
  // The zoom is a 0.35 s CSS transition: let it end before the screenshot.
  await page.evaluate(`Promise.all(document.getElementById('stage').getAnimations().map((a) => a.finished))`);
  await page.locator('#viewer').screenshot({ path: path.join(SCREENSHOTS, '3-zoomed-face.png') });
  await page.getByRole('button', { name: 'Whole photo' }).click();
  expect(await page.evaluate<string>(`document.getElementById('stage').style.transform`)).toBe('');

  const download = page.locator('#download');
  expect(await download.isVisible()).toBe(true);
  const result = await page.request.get((await download.getAttribute('href'))!);
  expect(result.status()).toBe(200);
  expect(imageSize(await result.body())).toMatchObject({ width: input.width * upscale, height: input.height * upscale });

  // Recent jobs (GET /jobs) lists it with a thumbnail that loaded.
  const card = page.locator('#recent .card').first();
  await card.locator('img').waitFor();
  await expect.poll(async () => await page.evaluate<boolean>(`(() => { const img = document.querySelector('#recent .card img'); return img.complete && img.naturalWidth > 0; })()`)).toBe(true);
  expect(await page.locator('#recent .card').count()).toBeGreaterThanOrEqual(1);

  // Raw JSON only behind "Details"; every shown image loaded and has a text alternative.
  expect(await page.locator('#details').isVisible()).toBe(false);
  await page.getByText('Details', { exact: true }).click();
  expect(await page.locator('#details').isVisible()).toBe(true);
  expect(await brokenImages(page)).toEqual([]);
  expect(await page.locator('#before').getAttribute('alt')).toMatch(/Original/);
  expect(await page.locator('#after').getAttribute('alt')).toMatch(/Restored/);
  expect(pageErrors).toEqual([]);
  await page.close();
});

it('explains a non-image in words, and a damaged JPEG fails as a job with its own message', async () => {
  const { page, pageErrors } = await openPage();
  await dropFile(page, Buffer.from('just some notes\n'), 'notes.txt', 'text/plain');
  expect(await endState(page)).toBe('ERROR');
  expect(await page.locator('#error').getAttribute('data-code')).toBe('NOT_AN_IMAGE');
  expect(await page.getByRole('alert').textContent()).toContain('This file is not a photo');
  expect(await brokenImages(page)).toEqual([]);

  // Through the file picker this time: a damaged JPEG (its first bytes say JPEG, so the API takes it; the rest does not
  // decode) reaches the worker, which fails it with INVALID_IMAGE.
  const fake = path.join(modelDir, 'holiday.jpg');
  await writeFile(fake, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('this is not really a JPEG')]));
  await page.setInputFiles('#file', fake);
  expect(await endState(page)).toBe('FAILED');
  expect(await page.locator('#error').getAttribute('data-code')).toBe('INVALID_IMAGE');
  expect(await page.getByRole('alert').textContent()).toContain('This photo could not be read');
  expect(await page.locator('#steps li.failed').count()).toBe(1);
  expect(await page.locator('#result').isVisible()).toBe(false);
  await page.locator('#recent .card .status-failed').first().waitFor();
  expect(await brokenImages(page)).toEqual([]);
  expect(await page.locator('pre:visible').count()).toBe(0);
  await page.screenshot({ path: path.join(SCREENSHOTS, '4-failed.png'), fullPage: true });

  // The earlier job, opened from Recent jobs in this new session: no original here, so the result alone, faces on it.
  await page.locator('#recent .card', { hasText: 'Done' }).first().click();
  expect(await endState(page)).toBe('SUCCEEDED');
  await page.locator('#result').waitFor();
  expect(await page.locator('#no-original').isVisible()).toBe(true);
  expect(await page.locator('#faces .face-box').count()).toBeGreaterThanOrEqual(1);
  expect(await page.getByLabel('Compare before and after').isVisible()).toBe(false);
  expect(await brokenImages(page)).toEqual([]);
  await page.screenshot({ path: path.join(SCREENSHOTS, '5-opened-from-recent.png'), fullPage: true });
  expect(pageErrors).toEqual([]);
  await page.close();
});

it("a photo left for a job from the list stops: its request is aborted and its answers never reach the view", async () => {
  const { page, pageErrors } = await openPage();
  // Hold the new photo's POST /jobs: the person opens an earlier job from the list before it is answered.
  let held: Route | undefined;
  const heldRequest = new Promise<Request>((resolve) => {
    void page.route(
      (url) => url.pathname === '/jobs',
      async (route) => {
        if (route.request().method() !== 'POST' || held !== undefined) return await route.continue();
        held = route;
        resolve(route.request());
      },
    );
  });
  await page.locator('#recent .card', { hasText: 'Done' }).first().waitFor();
  await dropFile(page, await readFile(PHOTO), 'left-behind.jpg', 'image/jpeg');
  const request = await heldRequest;
  const aborted = page.waitForEvent('requestfailed', { predicate: (r) => r === request, timeout: 30_000 });
  await page.locator('#recent .card', { hasText: 'Done' }).first().click();
  // The left run's request is aborted (its AbortController), not left to answer into the opened job's view.
  await aborted;
  expect(await endState(page)).toBe('SUCCEEDED');
  await held!.continue().catch(() => undefined);
  await page.locator('#result').waitFor();
  expect(await page.locator('#job-title').textContent()).toBe('A recent job');
  expect(await page.locator('#error').isVisible()).toBe(false);
  expect(JSON.parse((await page.locator('#details').textContent())!)).toMatchObject({ status: 'SUCCEEDED' });
  expect(pageErrors).toEqual([]);
  await page.close();
});
