import { rawRequest, type RawResponse } from './http.js';

/**
 * A small cookie-keeping HTTP client for form flows: it remembers Set-Cookie like a browser (per name), reads the
 * CSRF token from a page's _csrf field, and posts urlencoded forms. It does not follow redirects.
 */
export class WebClient {
  readonly cookies = new Map<string, string>();
  constructor(readonly baseUrl: string) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private remember(res: RawResponse): void {
    for (const line of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a) || /^\s*max-age=0\b/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(path: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<RawResponse> {
    const res = await rawRequest(path.startsWith('http') ? path : `${this.baseUrl}${path}`, {
      ...options,
      headers: { ...(this.cookies.size ? { Cookie: this.cookieHeader() } : {}), ...options.headers },
    });
    this.remember(res);
    return res;
  }

  get(path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
    return this.request(path, { headers: { Accept: 'text/html', ...headers } });
  }

  /** The _csrf value of the first form on the page at path (a GET, which also sets the CSRF cookie). */
  async csrfFrom(path: string): Promise<string> {
    const page = await this.get(path);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body.toString())?.[1];
    if (!token) throw new Error(`no _csrf field on ${path} (status ${page.status})`);
    return token;
  }

  /**
   * Posts a urlencoded form (pairs allow repeated names, like checkboxes); pass csrf: false to leave the token
   * out, or a string to send that token.
   */
  async post(path: string, fields: Record<string, string> | Array<[string, string]>, options: { csrf?: boolean | string; csrfPage?: string; json?: boolean } = {}): Promise<RawResponse> {
    const form = new URLSearchParams(fields);
    if (options.csrf !== false) form.set('_csrf', typeof options.csrf === 'string' ? options.csrf : await this.csrfFrom(options.csrfPage ?? path));
    const body = Buffer.from(form.toString());
    return this.request(path, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': String(body.length),
        Accept: options.json ? 'application/json' : 'text/html',
      },
      body,
    });
  }
}
