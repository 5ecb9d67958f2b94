#!/usr/bin/env node
// `pnpm -s stand-in <file.onnx>`: writes the GFPGAN v1.4-sized stand-in restorer with gfpgan_standin.py.
// It needs a Python with torch and onnx; the pyenv `python3` shim usually has neither, so Debian's /usr/bin/python3
// is tried first. $REVIVE_PYTHON, when set, is the only one tried.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const HERE = import.meta.dirname;
const CANDIDATES = process.env.REVIVE_PYTHON ? [process.env.REVIVE_PYTHON] : ['/usr/bin/python3', 'python3'];
const INSTALL_HINT =
  'Install PyTorch and the onnx package for a Python 3 (Debian: `apt-get install python3-torch python3-onnx`; ' +
  'elsewhere: `pip install torch onnx`), or point REVIVE_PYTHON at a Python that has them.';

function hasModules(python) {
  if (python.includes('/') && !existsSync(python)) return false;
  const probe = spawnSync(python, ['-c', 'import torch, onnx'], { stdio: 'ignore' });
  return probe.status === 0;
}

const args = process.argv.slice(2);
if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
  console.error('usage: pnpm -s stand-in <file.onnx> [--seed N]\nWrites a GFPGAN v1.4-sized stand-in restorer (input `input` [N,3,512,512], output in [-1,1]).');
  process.exit(args.length === 0 ? 2 : 0);
}
const python = CANDIDATES.find(hasModules);
if (!python) {
  console.error(`stand-in: no Python with torch and onnx found (tried ${CANDIDATES.join(', ')}). ${INSTALL_HINT}`);
  process.exit(3);
}
const out = path.resolve(process.env.INIT_CWD ?? process.cwd(), args[0]);
const result = spawnSync(python, [path.join(HERE, 'gfpgan_standin.py'), out, ...args.slice(1)], {
  stdio: 'inherit',
  env: { ...process.env, PYTHONWARNINGS: 'ignore', PYTHONDONTWRITEBYTECODE: '1' },
});
process.exit(result.status ?? 1);
