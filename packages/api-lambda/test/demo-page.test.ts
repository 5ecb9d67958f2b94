// The demo page in a real headless Chromium: pick a photo → upload → job → SUCCEEDED → the after image loads at
// upscale × the input's size. Fails (never skips) when Debian's chromium is missing: `.ci/run` installs it.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sharedDir, writeIdentityRestorer } from '@revive/worker/testing';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../src/local/stack.js';
import { imageSize } from './image-size.js';

const CHROMIUM = '/usr/bin/chromium';
const PHOTO = path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg');
let stack: LocalStack;
let browser: Browser;
let modelDir: string;
const workerLog: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the demo page test.`);
  }
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

it('restores a photo picked on the demo page and shows before and after', async () => {
  const input = imageSize(await readFile(PHOTO));
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${stack.server.url}/`);
  await page.setInputFiles('#file', PHOTO);
  const status = page.locator('#status');
  await status.and(page.locator('[data-status="SUCCEEDED"], [data-status="FAILED"]')).waitFor({ timeout: 150_000 });
  const outcome = await status.getAttribute('data-status');
  expect(outcome, `${await page.locator('#error').textContent()}\n${await page.locator('#details').textContent()}\n${workerLog.slice(-20).join('\n')}`).toBe('SUCCEEDED');

  // A string expression: this package compiles without the DOM library.
  const sizes = await page.evaluate<{ before: number[]; after: number[]; complete: boolean }>(`(() => {
    const before = document.getElementById('before');
    const after = document.getElementById('after');
    return { before: [before.naturalWidth, before.naturalHeight], after: [after.naturalWidth, after.naturalHeight], complete: after.complete };
  })()`);
  expect(sizes.complete).toBe(true);
  expect(sizes.before).toEqual([input.width, input.height]);
  const upscale = Number(await page.locator('#upscale').inputValue());
  expect(sizes.after).toEqual([input.width * upscale, input.height * upscale]);

  const download = page.locator('#download');
  expect(await download.isVisible()).toBe(true);
  const href = await download.getAttribute('href');
  const res = await page.request.get(href!);
  expect(res.status()).toBe(200);
  expect(imageSize(await res.body())).toMatchObject({ width: input.width * upscale, height: input.height * upscale });
  expect(pageErrors).toEqual([]);
  await page.close();
});
