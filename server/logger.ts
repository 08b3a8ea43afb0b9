import pino, { type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'pixbin' },
    // Secrets that could appear in logged objects; IPs are never passed to the logger at all.
    redact: { paths: ['*.password', '*.secret', '*.deleteKey', '*.token', 'config.turnstile.secretKey'], censor: '[redacted]' },
  });
}
