// In a module of its own, importing nothing: the openapi Lambda reads this name and must not pull the contract's
// schemas (and zod) into its bundle.

/** The OpenAPI document's file name beside the openapi Lambda's bundle: the CDK app's bundling writes it, the Lambda reads it. */
export const OPENAPI_DOCUMENT_FILE = 'openapi.json';
