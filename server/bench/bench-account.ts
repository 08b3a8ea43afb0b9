/** An account driven over HTTP, as a browser would: sign up, log in, upload, change an image's visibility. */
import { multipart } from '../test/helpers/http.js';
import { WebClient } from '../test/helpers/web-client.js';

export type BenchAccount = { username: string; client: WebClient };
export type Uploaded = { id: string; url: string; thumbnailUrl: string; size: number };

export async function signUp(baseUrl: string, username = `bench${Date.now() % 1_000_000}`): Promise<BenchAccount> {
  const client = new WebClient(baseUrl);
  const password = 'correct horse battery staple';
  const signup = await client.post('/signup', { username, email: `${username}@example.test`, password, age: 'yes', terms: 'yes' });
  if (signup.status !== 200) throw new Error(`sign-up failed: ${signup.status}`);
  const login = await client.post('/login', { login: username, password });
  if (login.status !== 303) throw new Error(`login failed: ${login.status}`);
  return { username, client };
}

/** Uploads as the signed-in owner (CSRF token in the header, as the upload page's script sends it). */
export async function ownerUpload(account: BenchAccount, bytes: Buffer, filename = 'photo.jpg'): Promise<Uploaded> {
  const token = await account.client.csrfFrom('/account/images');
  const { body, contentType } = multipart([{ name: 'file', value: bytes, filename, contentType: 'image/jpeg' }]);
  const res = await account.client.request('/upload', {
    method: 'POST',
    headers: { 'Content-Type': contentType, 'Content-Length': String(body.length), Accept: 'application/json', 'X-CSRF-Token': token },
    body,
  });
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.body.toString().slice(0, 300)}`);
  return res.json() as Uploaded;
}

export async function setVisibility(account: BenchAccount, id: string, visibility: 'public' | 'unlisted' | 'private'): Promise<void> {
  const res = await account.client.post(`/account/images/${id}/visibility`, { visibility }, { csrfPage: '/account/images', json: true });
  if (res.status !== 200) throw new Error(`visibility change failed: ${res.status} ${res.body.toString().slice(0, 300)}`);
}
