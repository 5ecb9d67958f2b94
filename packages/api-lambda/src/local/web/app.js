// The demo page's script: the same calls a front end makes against the deployed API (see the README).
const $ = (id) => document.getElementById(id);
const STEPS = { UPLOADING: 1, QUEUED: 2, RUNNING: 3, SUCCEEDED: 4, FAILED: 4, CANCELED: 4 };
const POLL_MS = 500;

function setStatus(status, text) {
  $('status').dataset.status = status;
  $('status').textContent = text;
  $('progress').value = STEPS[status] ?? 0;
}

function fail(message) {
  setStatus('FAILED', 'Failed.');
  $('error').hidden = false;
  $('error').textContent = message;
}

async function api(path, init = {}) {
  const res = await fetch(path, {
    ...init,
    headers: { 'content-type': 'application/json', 'x-revive-tenant': $('tenant').value, ...init.headers },
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${body.code}: ${body.detail ?? body.title}`);
  return body;
}

async function run(file) {
  $('error').hidden = true;
  $('download').hidden = true;
  $('after').removeAttribute('src');
  $('before').src = URL.createObjectURL(file);
  setStatus('UPLOADING', `Uploading ${file.name}…`);
  const upload = await api('/uploads', { method: 'POST', body: JSON.stringify({}) });
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append('Content-Type', file.type || 'image/jpeg');
  form.append('file', file); // S3 ignores fields after the file: it must come last.
  const put = await fetch(upload.url, { method: 'POST', body: form });
  if (!put.ok) throw new Error(`Upload refused (${put.status}): ${await put.text()}`);

  const options = { upscale: Number($('upscale').value) };
  let job = await api('/jobs', {
    method: 'POST',
    headers: { 'idempotency-key': crypto.randomUUID() },
    body: JSON.stringify({ source: { uploadKey: upload.uploadKey }, options }),
  });
  $('details').textContent = JSON.stringify(job, null, 2);
  while (job.status === 'QUEUED' || job.status === 'RUNNING') {
    setStatus(job.status, job.status === 'QUEUED' ? 'Queued…' : 'Restoring…');
    await new Promise((r) => setTimeout(r, POLL_MS));
    job = await api(new URL(job.urls.get).pathname);
    $('details').textContent = JSON.stringify(job, null, 2);
  }
  if (job.status !== 'SUCCEEDED') {
    fail(`Job ${job.status}: ${job.error ? `${job.error.code}: ${job.error.message}` : ''}`);
    return;
  }
  await new Promise((resolve, reject) => {
    $('after').onload = resolve;
    $('after').onerror = () => reject(new Error('The result did not load.'));
    $('after').src = job.output.url;
  });
  $('download').href = job.output.url;
  $('download').hidden = false;
  const faces = job.metrics.faces_found;
  setStatus('SUCCEEDED', `Done: ${faces} face${faces === 1 ? '' : 's'}, ${job.output.width}×${job.output.height}.`);
}

$('file').addEventListener('change', () => {
  const file = $('file').files[0];
  if (file) run(file).catch((error) => fail(error.message));
});
