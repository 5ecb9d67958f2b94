// Text checks with no schema library: the API's event adapter imports this from every Lambda, the openapi one
// included, which must not carry zod (a module of schemas would keep all of them in the bundle).

/**
 * True when `value` is well-formed UTF-16: no lone surrogate (`"\ud800"` is valid JSON but no Unicode text). A lone
 * surrogate cannot be UTF-8 encoded, so it breaks whatever encodes it later (the SDK's URIError on an S3 key, a URL
 * that silently turns it into U+FFFD, a header).
 */
export function isWellFormedText(value: string): boolean {
  return !/\p{Cs}/u.test(value);
}
