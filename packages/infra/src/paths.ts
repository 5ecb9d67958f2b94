import { fileURLToPath } from 'node:url';

/** The repository root: the NodejsFunction project root and the worker image's build context. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
