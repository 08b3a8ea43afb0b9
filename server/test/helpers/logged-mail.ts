import { until } from './assertions.js';

type LogLine = Record<string, unknown>;
type LoggedMail = { to?: unknown; subject?: unknown; text?: unknown };

/**
 * The link starting with `prefix` in the newest message to `to` that an app without SMTP_URL wrote to its log
 * (mailer.service), waiting for it: mail goes out after the response. `logs` is a TestApp's logs array, or a
 * spawned child's logs(); `prefix` is e.g. `${app.url}/verify-email/`.
 */
export async function loggedMailLink(logs: readonly LogLine[] | (() => readonly LogLine[]), to: string, prefix: string, timeoutMs = 5000): Promise<string> {
  const read = typeof logs === 'function' ? logs : () => logs;
  const find = (): string | null => {
    for (const line of [...read()].reverse()) {
      const mail = line.mail as LoggedMail | undefined;
      if (mail?.to !== to || typeof mail.text !== 'string') continue;
      const at = mail.text.indexOf(prefix);
      if (at >= 0) return /^[^\s<>"]+/.exec(mail.text.slice(at))![0];
    }
    return null;
  };
  await until(() => find() !== null, `a message to ${to} with a link starting ${prefix}, in the log`, timeoutMs);
  return find()!;
}
