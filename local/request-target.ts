/**
 * The request target of a local server's request as a URL. A target in origin form (`/path?query`)
 * is a path even when it starts with `//`, which `new URL(target, base)` would read as a host; one in
 * absolute form (`http://host/path`) is taken as it is. Undefined when it is neither: the server
 * answers 400, since `new URL` throws on it, and a throw in a request listener stops the platform.
 */
export function requestUrl(target: string | undefined): URL | undefined {
  const value = target ?? '/';
  try {
    return value.startsWith('/') ? new URL(`http://localhost${value}`) : new URL(value);
  } catch {
    return undefined;
  }
}
