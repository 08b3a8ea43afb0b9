import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { createLogger, formatLogLine } from '../../logger.js';

/** A stand-in for process.stdout that keeps what is written; isTTY as a terminal or a pipe would report it. */
function fakeOut(isTTY: boolean) {
  const written: string[] = [];
  const out = { isTTY, hasColors: () => false, write: (chunk: string) => { written.push(String(chunk)); return true; } };
  return { out: out as unknown as NodeJS.WriteStream, written };
}

describe('logger: readable lines in a terminal, JSON elsewhere', () => {
  it('writes "time LEVEL message key=value" lines to a terminal, an emailed text and an error stack on lines of their own', () => {
    const { out, written } = fakeOut(true);
    const logger = createLogger('info', out);
    logger.info({ url: 'http://localhost:3000', port: 3000, database: 'sqlite' }, 'Pixbin is listening');
    logger.info({ mail: { to: 'a@example.test', subject: 'Confirm', text: 'Hello\nhttp://localhost:3000/verify/abc' } }, 'email not sent (SMTP_URL is not set); here it is');
    logger.error({ err: new Error('boom') }, 'job failed');
    logger.info({ secret: { password: 'hunter2' } }, 'redacted');
    const text = written.join('');
    expect(text).not.to.match(/^\{/m);
    expect(text).to.match(/^\d{2}:\d{2}:\d{2} INFO {2}Pixbin is listening port=3000 database=sqlite\n {4}url: http:\/\/localhost:3000\n/m);
    expect(text).to.include('    To: a@example.test\n    Subject: Confirm\n    | Hello\n    | http://localhost:3000/verify/abc\n');
    expect(text).to.match(/ERROR job failed err=boom\n {4}at /);
    expect(text).to.include('password').and.include('[redacted]').and.not.include('hunter2');
  });

  it('writes one JSON object per line to a pipe, and readable lines to a real terminal', () => {
    const script = "import('./server/logger.ts').then((m) => m.createLogger('info').warn({ setupUrl: 'http://x/setup/t' }, 'No admin account yet'))";
    const piped = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    const entry = JSON.parse(piped.trim()) as Record<string, unknown>;
    expect(entry).to.include({ level: 40, msg: 'No admin account yet', setupUrl: 'http://x/setup/t', service: 'pixbin' });
    // script(1) gives the child a pseudo-terminal as stdout.
    const command = `${process.execPath} --import tsx -e "${script.replace(/"/g, '\\"')}"`;
    const tty = execFileSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', TERM: 'dumb' } });
    // The setup link, in a terminal, stands on a line of its own below the entry.
    expect(tty.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '').replace(/\r/g, '').trim()).to.match(/^\d{2}:\d{2}:\d{2} WARN +No admin account yet\n+ {4}Create the first admin account: http:\/\/x\/setup\/t$/);
    expect(formatLogLine('not json')).to.equal('not json\n');
  });

  it('never lets a logged value drive the terminal: control characters are written as escapes', () => {
    const esc = String.fromCharCode(27);
    const line = formatLogLine(JSON.stringify({ level: 30, time: 0, msg: `clear${esc}[2J`, name: `x${esc}]0;title`, url: `http://x/${esc}[31m`, mail: { to: 'a', subject: `s${esc}`, text: `t${esc}` } }));
    expect(line).not.to.include(esc);
    expect(line).to.include('clear\\u001b[2J').and.include('http://x/\\u001b[31m');
  });
});
