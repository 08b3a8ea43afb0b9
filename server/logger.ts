import pino, { type DestinationStream, type Logger } from 'pino';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields every entry has, or that the line already shows. */
const SKIPPED = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname', 'v', 'setupUrl']);
/** Fields worth their own line in a terminal (a link someone must open); the rest share the end of the line. */
const OWN_LINE = new Set(['url', 'link']);

/** Control characters (ESC above all) written as \u escapes, so nothing logged can drive the terminal. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const clean = (text: string): string => text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function shown(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) || clean(value) !== value ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? String(value);
}

/**
 * One pino JSON entry as a line a person reads: "12:34:56 WARN  message key=value …", a link on a line of its own,
 * an error's stack indented below. Anything that is not JSON passes through unchanged.
 */
export function formatLogLine(json: string, colour = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 19) : '--:--:--';
  const name = (LEVELS[level] ?? String(level)).padEnd(5);
  const label = colour ? `\u001b[${COLOURS[level] ?? '0'}m${name}\u001b[0m` : name;
  const fields: string[] = [];
  const below: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    if (key === 'setupUrl' && typeof value === 'string') {
      // The first admin's one-time link: on a line of its own, set apart, easy to spot and copy.
      below.push('', `    Create the first admin account: ${clean(value)}`, '');
      continue;
    }
    if (SKIPPED.has(key) || value === undefined) continue;
    if (key === 'err' && value && typeof value === 'object') {
      const err = value as { message?: unknown; stack?: unknown };
      fields.push(`err=${shown(err.message ?? '')}`);
      if (typeof err.stack === 'string') below.push(...err.stack.split('\n').slice(1).map((l) => `    ${clean(l.trim())}`));
    } else if (key === 'mail' && value && typeof value === 'object') {
      // An email logged instead of sent (no SMTP_URL): its links must be easy to find and open.
      const mail = value as { to?: unknown; subject?: unknown; text?: unknown };
      below.push(`    To: ${clean(String(mail.to ?? ''))}`, `    Subject: ${clean(String(mail.subject ?? ''))}`);
      if (typeof mail.text === 'string') below.push(...mail.text.split('\n').map((l) => `    | ${clean(l)}`));
    } else if (OWN_LINE.has(key) && typeof value === 'string') {
      below.push(`    ${key}: ${clean(value)}`);
    } else {
      fields.push(`${key}=${shown(value)}`);
    }
  }
  const msg = typeof entry.msg === 'string' ? clean(entry.msg) : '';
  const head = [time, label, msg, ...fields].filter((part) => part !== '').join(' ');
  return `${[head, ...below].join('\n')}\n`;
}

/** A destination that writes formatLogLine's lines to a terminal. */
export function prettyStream(out: NodeJS.WriteStream): DestinationStream {
  const colour = out.hasColors?.() ?? false;
  return {
    write(chunk: string) {
      // pino writes one entry per call, each ending in a newline.
      for (const line of chunk.split('\n')) if (line) out.write(formatLogLine(line, colour));
    },
  };
}

/** JSON lines, one per entry; readable lines instead when stdout is a terminal (tests and log collectors get JSON). */
export function createLogger(level: string, out: NodeJS.WriteStream = process.stdout): Logger {
  const options = {
    level,
    base: { service: 'pixbin' },
    // Secrets that could appear in logged objects; IPs are never passed to the logger at all.
    redact: { paths: ['*.password', '*.secret', '*.deleteKey', '*.token', 'config.turnstile.secretKey'], censor: '[redacted]' },
  };
  return out.isTTY ? pino(options, prettyStream(out)) : pino(options);
}
