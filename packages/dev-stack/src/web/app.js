// @ts-check
// The demo page: @revive/client (served by the local server from packages/client/dist) driving the same API a
// deployed front end calls. No framework: the DOM is built with createElement/textContent, never from API strings.
// Plain JavaScript that the browser runs as served, type-checked by tsc through its JSDoc (tsconfig.web.json: the DOM
// library, @revive/client's types from its sources) and linted like the rest.

/** @typedef {typeof import('../../../client/src/index.js')} ClientModule */
/** @typedef {import('../../../client/src/index.js').JobResponse} JobResponse */
/** @typedef {import('../../../client/src/index.js').JobFace} JobFace */
/** @typedef {'UPLOADING' | 'QUEUED' | 'RUNNING' | 'DONE'} Step */
import { wireMedia } from './media.js';

/**
 * The element with this id, checked to be of the class the page's HTML gives it: a missing or different element is
 * a bug of the page, said at once rather than as a null dereference later.
 * @template {Element} T
 * @param {string} id
 * @param {{ new (): T; prototype: T }} type
 * @returns {T}
 */
function byId(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return node;
}
/** @param {string} id */
const $ = (id) => byId(id, HTMLElement);
/** @param {string} id */
const input = (id) => byId(id, HTMLInputElement);
/** @typedef {import('../../../client/src/index.js').UploadContentType} UploadContentType */
/**
 * What the page takes: the API's upload types (the client's UPLOAD_CONTENT_TYPES) that a browser can also show beside
 * the result. TIFF is left out: the API and the worker read it, but no browser draws it.
 * @type {readonly string[]}
 */
const ACCEPTED = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif'];
/**
 * @param {string} type
 * @returns {type is UploadContentType}
 */
const isAccepted = (type) => ACCEPTED.includes(type);
const RECENT_LIMIT = 12;
const TICK_MS = 100;

/** What a person reads for each code: the API's problem codes, the worker's job codes, the client's own. */
/** @type {Record<string, readonly [title: string, text: string]>} */
const MESSAGES = {
  // The page's own check, before anything is sent.
  NOT_AN_IMAGE: ['This file is not a photo', 'Choose a JPEG, PNG, WebP, GIF or AVIF image.'],
  NOT_VIDEO_OR_PHOTOS: ['Choose one video, or photos only', 'A video (MP4, MOV, MKV or WebM) is restored on its own; several photos make an album.'],
  RESULT_UNAVAILABLE: ['The restored photo could not be loaded', 'Its link may have expired. Open the job again from Recent jobs.'],
  // Job failures (job.error.code).
  INVALID_IMAGE: ['This photo could not be read', 'The file may be damaged, or not really a JPEG, PNG, WebP, GIF, TIFF or AVIF image. Try exporting it again.'],
  IMAGE_TOO_LARGE: ['This photo has too many pixels', 'Choose a smaller upscale, or try a smaller version of it.'],
  OUTPUT_TOO_LARGE: ['The result would be too wide or tall for that format', 'Choose PNG or Auto as the format, or a smaller upscale.'],
  SOURCE_TOO_LARGE: ['This photo is too large', 'Try a smaller version of it.'],
  SOURCE_NOT_FOUND: ['The uploaded photo was not found', 'The upload may have expired. Upload the photo again.'],
  SOURCE_UNREACHABLE: ['The photo could not be downloaded', 'Its address did not answer. Try again later.'],
  SOURCE_TOO_SLOW: ['The photo downloaded too slowly', 'Its address sent the photo too slowly or stopped. Upload the photo instead.'],
  FORBIDDEN_URL: ['That address is not allowed', 'Photos must come from a public http(s) address.'],
  NO_FACE: ['No face was found', 'Try a photo where faces are clearly visible.'],
  UNSUPPORTED_MODEL: ['That restoration model is not available', 'Choose another model, or leave the default.'],
  RETRIES_EXHAUSTED: ['The restoration kept failing', 'Please try again later.'],
  INVALID_MESSAGE: ['The job could not be read by the service', 'Please try again.'],
  JOB_TIMEOUT: ['This photo took too long to restore', 'Try a smaller photo, or one with fewer faces.'],
  DEAD_LETTERED: ['The service could not finish this job', 'It was set aside after repeated failures. Please try again.'],
  ALBUM_PARTLY_FAILED: ['Some photos of the album failed', 'The ZIP holds the photos that were restored; each failed photo says why below.'],
  SEGMENT_FAILED: ['Part of the video kept failing', 'Please try again later.'],
  VIDEO_UNREADABLE: ['This video could not be read', 'The file may be damaged or cut short. Try exporting it again.'],
  VIDEO_NO_VIDEO_STREAM: ['This file has no picture', 'It holds no video stream (only sound, or nothing). Choose a video.'],
  VIDEO_TOO_LONG: ['This video is too long', 'Cut it into shorter parts.'],
  VIDEO_TOO_LARGE: ['This video is too large', 'Try a smaller or shorter version of it, or a lower resolution.'],
  VIDEO_ENCODE_FAILED: ['The restored video could not be written', 'Please try again.'],
  // API problems (problem+json code).
  ENQUEUE_FAILED: ['The job could not be started', 'The service is busy. Try again in a moment.'],
  SERVICE_UNAVAILABLE: ['The service is busy', 'Nothing was changed. Try again in a moment.'],
  JOB_STATE_UNKNOWN: ['The service did not confirm the job', 'It may have been created: look under Recent jobs before trying again.'],
  UNSUPPORTED_CONTENT_ENCODING: ['The request was refused', 'This page sent a compressed body the API does not accept.'],
  UNAUTHENTICATED: ['You are not signed in', 'Local mode: set a tenant under Settings.'],
  FORBIDDEN_UPLOAD_KEY: ['That upload belongs to someone else', 'Upload the photo again.'],
  UPLOAD_NOT_FOUND: ['The uploaded photo was not found', 'The upload may not have finished, or it expired. Upload the photo again.'],
  JOB_NOT_FOUND: ['This job no longer exists', 'Old jobs are deleted after a while.'],
  JOB_NOT_CANCELABLE: ['This job can no longer be canceled', 'It has already started or finished.'],
  PAYLOAD_TOO_LARGE: ['The request was too large', 'Try a smaller photo.'],
  HEADERS_TOO_LARGE: ['The request was too large', 'Try a shorter tenant name.'],
  TIMEOUT: ['The service took too long to answer', 'Try again in a moment.'],
  MALFORMED_JSON: ['The request was refused', 'This page sent something the API could not read.'],
  VALIDATION_FAILED: ['The request was refused', 'One of the settings is out of range.'],
  UNKNOWN_FIELD: ['The request was refused', 'This page sent a setting the API does not know.'],
  UNSUPPORTED_MEDIA_TYPE: ['The request was refused', 'This page sent a body the API does not accept.'],
  INVALID_IDEMPOTENCY_KEY: ['The request was refused', 'Its retry key was malformed.'],
  IDEMPOTENCY_KEY_REUSED: ['The request was refused', 'Its retry key was already used for another photo.'],
  INVALID_CURSOR: ['Could not load more jobs', 'Refresh the list.'],
  MALFORMED_PATH: ['The request was refused', 'Its address was not valid.'],
  ROUTE_NOT_FOUND: ['The service does not know this request', 'The page and the API may be different versions.'],
  INVALID_VIDEO: ['This file is not a video the service reads', 'Choose an MP4, MOV, MKV or WebM video.'],
  INVALID_UPLOAD_PARTS: ['The upload did not complete', 'Some parts were missing. Upload the video again.'],
  INTERNAL: ['Something went wrong on our side', 'Please try again. If it keeps happening, send us the details below.'],
  // The client's own codes.
  UPLOAD_TOO_LARGE: ['This photo is too large to upload', 'Try a smaller version of it.'],
  UPLOAD_REJECTED: ['The upload was refused', 'The upload link may have expired, or the file is not an image. Try again.'],
  NETWORK: ['Cannot reach Revive', 'Check your connection and try again.'],
  RATE_LIMITED: ['Too many requests', 'Wait a moment and try again.'],
  HTTP_ERROR: ['The service answered unexpectedly', 'Please try again.'],
  WAIT_TIMEOUT: ['This is taking longer than expected', 'The job goes on: it will appear under Recent jobs when it is done.'],
  ABORTED: ['Stopped', ''],
  JOB_FAILED: ['The restoration failed', 'Please try again.'],
  JOB_CANCELED: ['The job was canceled', ''],
  CANCELED: ['The job was canceled', ''],
};

/** @type {readonly string[]} */
const STEP_ORDER = ['UPLOADING', 'QUEUED', 'RUNNING', 'DONE'];
/** @type {Readonly<Record<string, string>>} */
const STATUS_TEXT = { UPLOADING: 'Uploading', QUEUED: 'Waiting in the queue', RUNNING: 'Restoring faces' };
/** @type {Readonly<Record<string, string>>} */
const STATUS_LABEL = { QUEUED: 'Queued', RUNNING: 'Restoring', SUCCEEDED: 'Done', FAILED: 'Failed', CANCELED: 'Canceled' };

/** @type {ClientModule} the @revive/client module, loaded by boot() before anything else runs */
let lib;
/** @type {InstanceType<ClientModule['Revive']>} */
let client;
let run = 0; // each new photo or opened job gets a number; late answers for older ones are ignored
/** @type {AbortController | undefined} the current run's: a new run stops the old one's requests and polling */
let runAbort;
/** @type {ReturnType<typeof setInterval> | undefined} */
let ticker;
/** @type {Map<string, string>} job id → object URL of the photo picked in this session */
const originals = new Map();

/** Starts a run: stops the previous one (its requests, its polling) and numbers this one. */
function startRun() {
  runAbort?.abort();
  runAbort = new AbortController();
  return { token: ++run, signal: runAbort.signal };
}

function makeClient() {
  const tenant = input('tenant').value.trim();
  client = new lib.Revive({ baseUrl: '', ...(tenant && { tenant }) });
}

/**
 * An element with its properties (or attributes, for names that are no property) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [props]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k in node) Object.assign(node, { [k]: v });
    else node.setAttribute(k, String(v));
  }
  for (const child of children) node.append(child);
  return node;
}

/** @param {number} ms */
function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** @param {string} iso */
function timeAgo(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

// ---- Progress ----

/** The progress steps' items (the list holds nothing else). */
const stepItems = () => /** @type {HTMLLIElement[]} */ ([...$('steps').children]);

/**
 * @param {string} step one of STEP_ORDER, or '' for none yet
 * @param {boolean} [failed]
 */
function setStep(step, failed = false) {
  const index = STEP_ORDER.indexOf(step);
  for (const li of stepItems()) {
    const i = STEP_ORDER.indexOf(li.dataset.step ?? '');
    li.className = i < index ? 'done' : i === index ? (failed ? 'failed' : step === 'DONE' ? 'done' : 'current') : '';
    if (i === index && !failed && step !== 'DONE') li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
}

/**
 * The live region changes once per step; the elapsed time ticks beside it, hidden from screen readers.
 * @param {string} step
 */
function setPhase(step) {
  const status = $('status');
  if (status.dataset.status === step) return;
  status.dataset.status = step;
  status.textContent = `${STATUS_TEXT[step] ?? 'Working'}…`;
}

/**
 * @param {string} step
 * @param {number} [since] performance.now() at the start
 */
function startClock(step, since = performance.now()) {
  stopClock();
  const show = () => {
    $('elapsed').textContent = seconds(performance.now() - since);
  };
  setPhase(step);
  show();
  ticker = setInterval(show, TICK_MS);
  return since;
}

function stopClock() {
  clearInterval(ticker);
  ticker = undefined;
  $('elapsed').textContent = '';
}

/**
 * @param {string} code a MESSAGES key (an unknown one gets a generic sentence)
 * @param {string} [detail]
 */
function showError(code, detail) {
  const [title, text] = MESSAGES[code] ?? ['Something went wrong', ''];
  $('error').hidden = false;
  $('error').dataset.code = code;
  $('error-title').textContent = title;
  $('error-text').textContent = text;
  // The service's own words, for someone reporting the problem; secondary to the sentence above.
  $('error-detail').textContent = detail ? `Reported: ${detail}` : '';
  $('error-detail').hidden = !detail;
}

/** @param {unknown} error */
function errorCodeOf(error) {
  if (error instanceof lib.ReviveError) return error.code === 'JOB_FAILED' ? error.job?.error?.code ?? 'INTERNAL' : error.code;
  return 'HTTP_ERROR';
}

/** @param {unknown} value */
function setDetails(value) {
  $('details').textContent = value === undefined ? '' : JSON.stringify(value, null, 2);
  $('details-box').hidden = value === undefined;
}

// ---- Comparison viewer ----

/**
 * @param {HTMLImageElement} img
 * @param {string} src
 * @returns {Promise<HTMLImageElement>}
 */
function loadImage(img, src) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('image did not load'));
    img.src = src;
  });
}

/** @param {number} percent */
function setSlider(percent) {
  const p = Math.min(100, Math.max(0, percent));
  input('slider').value = String(p);
  input('slider').setAttribute('aria-valuetext', `${Math.round(p)}% before, ${Math.round(100 - p)}% after`);
  $('stage').style.setProperty('--split', `${p}%`);
}

/**
 * @param {JobFace['box'] | undefined} box the face's [x1, y1, x2, y2], or undefined for the whole photo
 * @param {number} width
 * @param {number} height
 * @param {Element} button
 */
function zoomTo(box, width, height, button) {
  const stage = $('stage');
  for (const b of document.querySelectorAll('.zoom button')) b.setAttribute('aria-pressed', String(b === button));
  if (!box) {
    stage.style.transform = '';
    stage.style.setProperty('--zoom', '1');
    return;
  }
  const [x1, y1, x2, y2] = box;
  // The face with a little room fills the view: at least 2× (a face that already fills the photo still gets a close
  // look), at most 12× (beyond that the pixels are all one sees).
  const margin = 0.3;
  const w = (x2 - x1) * (1 + margin);
  const h = (y2 - y1) * (1 + margin);
  const scale = Math.min(12, Math.max(2, Math.min(width / w, height / h)));
  const cx = (x1 + x2) / 2 / width;
  const cy = (y1 + y2) / 2 / height;
  const clamp = (/** @type {number} */ t) => Math.min(0, Math.max(1 - scale, t));
  const tx = clamp(0.5 - cx * scale);
  const ty = clamp(0.5 - cy * scale);
  stage.style.transform = `translate(${tx * 100}%, ${ty * 100}%) scale(${scale})`;
  stage.style.setProperty('--zoom', String(scale));
}

/**
 * @param {readonly JobFace[]} faces
 * @param {number} width
 * @param {number} height
 */
function drawFaces(faces, width, height) {
  const svg = byId('faces', SVGSVGElement);
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const ns = 'http://www.w3.org/2000/svg';
  faces.forEach((face, i) => {
    const [x1, y1, x2, y2] = face.box;
    const rect = document.createElementNS(ns, 'rect');
    rect.setAttribute('class', 'face-box');
    rect.setAttribute('x', String(x1));
    rect.setAttribute('y', String(y1));
    rect.setAttribute('width', String(x2 - x1));
    rect.setAttribute('height', String(y2 - y1));
    rect.setAttribute('rx', String(Math.min(x2 - x1, y2 - y1) * 0.08));
    rect.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(rect);
    const label = document.createElementNS(ns, 'text');
    label.setAttribute('class', 'face-label');
    label.setAttribute('x', String(x1));
    label.setAttribute('y', String(Math.max(0, y1) - Math.max(4, height * 0.008)));
    label.setAttribute('font-size', String(Math.max(12, height * 0.035)));
    label.textContent = String(i + 1);
    svg.append(label);
  });
  const buttons = $('face-buttons');
  buttons.replaceChildren(
    ...faces.map((face, i) => {
      const button = el('button', { type: 'button', textContent: `Face ${i + 1}`, title: `Zoom on face ${i + 1} (${Math.round(face.score * 100)}% sure)` });
      button.setAttribute('aria-pressed', 'false');
      button.addEventListener('click', () => zoomTo(face.box, width, height, button));
      return button;
    }),
  );
}

/**
 * Shows a SUCCEEDED job: before (when this session has the original) over after, faces outlined, zoom buttons.
 * @param {JobResponse} job
 * @param {number} token the run it belongs to
 */
async function showResult(job, token) {
  const output = job.output;
  if (!output) {
    showError('RESULT_UNAVAILABLE');
    return;
  }
  const upscale = job.input.options.upscale ?? 1;
  const outW = output.width ?? 0;
  const outH = output.height ?? 0;
  const width = Math.round(outW / upscale);
  const height = Math.round(outH / upscale);
  const original = originals.get(job.id);
  const after = new Image();
  try {
    await loadImage(after, output.url);
  } catch {
    if (token !== run) return;
    showError('RESULT_UNAVAILABLE');
    return;
  }
  if (token !== run) return;
  const name = job.input.source !== null && 'uploadKey' in job.input.source ? 'your photo' : 'the photo';
  const afterImage = byId('after', HTMLImageElement);
  afterImage.src = after.src;
  afterImage.alt = `Restored version of ${name}, ${outW} by ${outH} pixels`;
  const before = byId('before', HTMLImageElement);
  const haveOriginal = original !== undefined;
  if (haveOriginal) {
    before.src = original;
    before.alt = `Original of ${name}, ${width} by ${height} pixels, with the faces found outlined`;
  } else {
    before.removeAttribute('src');
    before.alt = '';
  }
  $('viewer').classList.toggle('no-original', !haveOriginal);
  $('no-original').hidden = haveOriginal;
  input('slider').disabled = !haveOriginal;
  // Nothing to compare without the original: the slider goes rather than sitting there disabled.
  const controls = input('slider').closest('.controls');
  if (controls instanceof HTMLElement) controls.hidden = !haveOriginal;
  $('result').style.setProperty('--aspect', String(width / height));
  $('viewer').style.aspectRatio = `${width} / ${height}`;
  drawFaces(job.faces ?? [], width, height);
  zoomTo(undefined, width, height, $('zoom-fit'));
  setSlider(50);
  const faces = job.metrics.faces_found ?? job.faces?.length ?? 0;
  const took = job.metrics.predict_time_ms === null ? '' : ` · the worker took ${seconds(job.metrics.predict_time_ms)}`;
  $('summary').textContent = `${faces === 0 ? 'No face' : faces === 1 ? '1 face' : `${faces} faces`} found · ${width}×${height} → ${outW}×${outH}${took}`;
  byId('download', HTMLAnchorElement).href = output.url;
  $('download').setAttribute('download', `revive-${job.id.slice(0, 8)}`);
  $('result').hidden = false;
}

// ---- One job on screen ----

/** @param {string} title */
function resetJobView(title) {
  stopClock();
  $('job').hidden = false;
  $('pick').classList.add('compact');
  $('job-title').textContent = title;
  $('error').hidden = true;
  $('result').hidden = true;
  $('status').textContent = '';
  $('status').dataset.status = 'IDLE';
  $('steps').hidden = false;
  setStep('');
  setDetails(undefined);
}

/**
 * @param {JobResponse} job an ended job
 * @param {number} token the run it belongs to
 * @param {number | undefined} since performance.now() when the person started, when this session saw it start
 */
async function finish(job, token, since) {
  if (token !== run) return;
  setDetails(job);
  stopClock();
  const elapsed = since === undefined ? '' : ` in ${seconds(performance.now() - since)}`;
  if (job.status === 'SUCCEEDED') {
    setStep('DONE');
    $('status').textContent = `Restored${elapsed}.`;
    await showResult(job, token);
  } else {
    setStep(job.status === 'CANCELED' ? 'QUEUED' : 'RUNNING', true);
    $('status').textContent = job.status === 'CANCELED' ? 'Canceled.' : `Failed${elapsed}.`;
    showError(job.status === 'CANCELED' ? 'CANCELED' : job.error?.code ?? 'INTERNAL', job.error?.message);
  }
  $('status').dataset.status = job.status;
}

/**
 * @param {unknown} error
 * @param {number} token the run it belongs to
 */
function fail(error, token) {
  // ABORTED: this run was stopped by a newer one, which owns the view now.
  if (token !== run || (error instanceof lib.ReviveError && error.code === 'ABORTED')) return;
  stopClock();
  $('status').dataset.status = 'ERROR';
  $('status').textContent = 'Could not finish.';
  const current = stepItems().find((li) => li.classList.contains('current'));
  if (current) current.className = 'failed';
  showError(errorCodeOf(error), error instanceof lib.ReviveError ? error.detail : error instanceof Error ? error.message : String(error));
  setDetails(error instanceof lib.ReviveError ? { code: error.code, status: error.status, detail: error.detail, errors: error.errors } : String(error));
}

/** @param {File} file */
async function restore(file) {
  const { token, signal } = startRun();
  resetJobView(file.name ? `“${file.name}”` : 'Your photo');
  const contentType = file.type;
  if (!isAccepted(contentType)) {
    $('steps').hidden = true;
    $('status').dataset.status = 'ERROR';
    $('status').textContent = 'Nothing was sent.';
    showError('NOT_AN_IMAGE', file.name ? `“${file.name}” is ${file.type || 'of an unknown type'}` : '');
    return;
  }
  const original = URL.createObjectURL(file);
  let kept = false;
  setStep('UPLOADING');
  const since = startClock('UPLOADING');
  try {
    const upload = await client.uploads.create(file, { contentType, signal });
    if (token !== run) return;
    const upscale = Number(byId('upscale', HTMLSelectElement).value);
    const created = await client.jobs.create({ source: { uploadKey: upload.uploadKey }, options: { upscale } }, { signal });
    // The job exists even if this run was left meanwhile: keep its original for when it is opened from the list.
    originals.set(created.id, original);
    kept = true;
    loadRecent();
    if (token !== run) return;
    await follow(created, token, since, signal);
    loadRecent();
  } catch (error) {
    fail(error, token);
  } finally {
    // A run that ended without a job (left, refused, failed upload) never shows its original.
    if (!kept) URL.revokeObjectURL(original);
  }
}

/**
 * Polls a job until it ends, showing its steps; `since` is when the person started (for the elapsed time).
 * @param {JobResponse} job
 * @param {number} token the run it belongs to
 * @param {number | undefined} since
 * @param {AbortSignal} signal
 */
async function follow(job, token, since, signal) {
  if (token !== run) return;
  setDetails(job);
  if (!lib.TERMINAL_STATUSES.includes(job.status)) {
    setStep(job.status);
    setPhase(job.status);
    const done = await client.jobs.wait(job.id, {
      signal,
      intervalMs: 300,
      maxIntervalMs: 2000,
      onUpdate: (j) => {
        if (token !== run || lib.TERMINAL_STATUSES.includes(j.status)) return;
        setStep(j.status);
        setPhase(j.status);
        setDetails(j);
      },
    });
    return await finish(done, token, since);
  }
  return await finish(job, token, undefined);
}

/** @param {string} id */
async function openJob(id) {
  const { token, signal } = startRun();
  resetJobView('A recent job');
  try {
    const job = await client.jobs.get(id, { signal });
    if (token !== run) return;
    if (!lib.TERMINAL_STATUSES.includes(job.status)) startClock(job.status, performance.now() - (Date.now() - Date.parse(job.created_at)));
    await follow(job, token, undefined, signal);
  } catch (error) {
    fail(error, token);
  }
  if (token === run) $('job').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

// ---- Recent jobs ----

/** @param {JobResponse} job */
function thumbnail(job) {
  const box = el('span', { className: 'thumb' });
  const placeholder = () => box.replaceChildren(el('span', { className: `thumb-placeholder status-${job.status.toLowerCase()}`, textContent: STATUS_LABEL[job.status] ?? job.status }));
  if (job.status === 'SUCCEEDED' && job.output) {
    const img = el('img', { alt: '', loading: 'lazy', decoding: 'async' });
    img.addEventListener('error', placeholder); // an expired link shows a placeholder, never a broken image
    img.src = job.output.url;
    box.append(img);
  } else {
    placeholder();
  }
  return box;
}

/** @type {Promise<void> | undefined} */
let recentLoading;
async function loadRecent() {
  if (recentLoading) return recentLoading;
  recentLoading = (async () => {
    const list = $('recent');
    try {
      const jobs = [];
      for await (const job of client.jobs.list({ limit: RECENT_LIMIT })) {
        jobs.push(job);
        if (jobs.length >= RECENT_LIMIT) break;
      }
      list.replaceChildren(
        ...jobs.map((job) => {
          const faces = job.metrics.faces_found;
          const what = job.status === 'SUCCEEDED' ? (faces === 1 ? '1 face' : `${faces ?? 0} faces`) : job.error ? (MESSAGES[job.error.code]?.[0] ?? job.error.code) : STATUS_LABEL[job.status];
          const button = el('button', { type: 'button', className: 'card' }, [
            thumbnail(job),
            el('span', { className: 'card-meta' }, [
              el('span', { className: `badge status-${job.status.toLowerCase()}`, textContent: STATUS_LABEL[job.status] ?? job.status }),
              el('span', { className: 'card-what', textContent: what }),
              el('time', { className: 'card-when', dateTime: job.created_at, textContent: timeAgo(job.created_at) }),
            ]),
          ]);
          button.setAttribute('aria-label', `${STATUS_LABEL[job.status] ?? job.status} job from ${timeAgo(job.created_at)}: ${what}. Open it.`);
          button.addEventListener('click', () => openJob(job.id));
          return el('li', {}, [button]);
        }),
      );
      $('recent-empty').textContent = 'Your restored photos will appear here.';
      $('recent-empty').hidden = jobs.length > 0;
    } catch (error) {
      const code = errorCodeOf(error);
      $('recent-empty').hidden = false;
      $('recent-empty').textContent = `Could not load recent jobs: ${(MESSAGES[code] ?? ['Something went wrong'])[0]}.`;
    } finally {
      recentLoading = undefined;
    }
  })();
  return recentLoading;
}

// ---- Wiring ----

function wire() {
  const zone = $('dropzone');
  const picker = input('file');
  picker.addEventListener('change', () => {
    const file = picker.files?.[0];
    if (file) restore(file);
    picker.value = '';
  });
  zone.addEventListener('click', (event) => {
    const target = event.target;
    if (target === zone || (target instanceof Element && target.closest('.drop-icon, .drop-title'))) picker.click();
  });
  for (const type of ['dragenter', 'dragover']) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add('dragging');
    });
  }
  for (const type of ['dragleave', 'drop']) zone.addEventListener(type, () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    const file = event.dataTransfer?.files?.[0];
    if (file) restore(file);
  });
  // A photo dropped anywhere else must not make the browser navigate away from the page.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());

  const slider = input('slider');
  slider.addEventListener('input', () => setSlider(Number(slider.value)));
  const viewer = $('viewer');
  let dragging = false;
  const track = (/** @type {PointerEvent} */ event) => {
    const rect = viewer.getBoundingClientRect();
    const stage = $('stage');
    // The divider is in stage coordinates; undo the zoom to find where the pointer is on the photo.
    const zoom = Number(stage.style.getPropertyValue('--zoom') || 1);
    const stageRect = stage.getBoundingClientRect();
    const x = zoom === 1 ? (event.clientX - rect.left) / rect.width : (event.clientX - stageRect.left) / stageRect.width;
    setSlider(x * 100);
  };
  viewer.addEventListener('pointerdown', (event) => {
    if (slider.disabled) return;
    dragging = true;
    viewer.setPointerCapture(event.pointerId);
    track(event);
  });
  viewer.addEventListener('pointermove', (event) => dragging && track(event));
  viewer.addEventListener('pointerup', () => (dragging = false));
  $('zoom-fit').addEventListener('click', () => zoomTo(undefined, 0, 0, $('zoom-fit')));
  const showFaces = input('show-faces');
  showFaces.addEventListener('change', () => $('viewer').classList.toggle('hide-faces', !showFaces.checked));
  $('refresh').addEventListener('click', () => loadRecent());
  $('tenant').addEventListener('change', () => {
    // The open run belongs to the other tenant: stop it, and let none of its answers reach the page.
    startRun();
    stopClock();
    makeClient();
    $('job').hidden = true;
    $('pick').classList.remove('compact');
    loadRecent();
  });
}

/** Where the local server serves @revive/client's built ESM (packages/dev-stack/src/server.ts). */
const CLIENT_MODULE = '/demo/client/index.js';

async function boot() {
  try {
    lib = /** @type {ClientModule} */ (await import(CLIENT_MODULE));
  } catch {
    $('job').hidden = false;
    $('steps').hidden = true;
    showError('HTTP_ERROR');
    $('error-title').textContent = 'The page could not load @revive/client';
    $('error-text').textContent = 'Build it with: pnpm --filter @revive/client build (pnpm start does this), then reload.';
    return;
  }
  // ?tenant=… picks the local tenant, so a link can open one tenant's jobs.
  const tenant = new URLSearchParams(location.search).get('tenant');
  if (tenant) input('tenant').value = tenant;
  makeClient();
  wire();
  wireMedia({
    lib,
    client: () => client,
    upscale: () => Number(byId('upscale', HTMLSelectElement).value),
    message: (code) => MESSAGES[code] ?? ['Something went wrong', ''],
  });
  document.body.dataset.ready = 'true';
  await loadRecent();
}

boot();
