import { expect } from 'chai';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, startupWarnings, TURNSTILE_DUMMY_SECRETS, type Config } from '../../config/config.js';

type Env = Record<string, string | undefined>;

/** The ConfigError loadConfig throws for env; fails the test if it does not throw one. */
function configError(env: Env): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  expect.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** The variables named at the start of the error's lines. */
const namedVariables = (err: Error): string[] =>
  err.message
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(':')[0]!);

const SITE_KEY = '0x4AAAAAAABkMYinukE8nzY';
const REAL_SECRET = '0x4AAAAAAABkMYinukE8nzYfC1nE0wcAzb4';

describe('loadConfig', () => {
  it('has safe defaults when nothing is set', () => {
    expect(loadConfig({})).to.deep.equal({
      port: 3000,
      host: '0.0.0.0',
      publicUrl: 'http://localhost:3000',
      https: false,
      dataDir: path.resolve('./data'),
      databaseUrl: undefined,
      turnstile: null,
      botProtection: 'off',
      altcha: null,
      maxUploadBytes: 25 * 1024 * 1024,
      maxImagePixels: 50_000_000,
      thumbnailSize: 400,
      displayMaxPx: 1600,
      imageConcurrency: 2,
      webConcurrency: 1,
      uploadIdleTimeoutMs: 15_000,
      unverifiedQuotaBytes: 0,
      outboundAllow: [],
      metrics: null,
      proxyOffload: null,
      trustProxy: false,
      logLevel: 'info',
      shutdownTimeoutMs: 25_000,
      bcryptCost: 12,
      sessionIdleDays: 90,
      sessionMaxDays: 180,
      minAge: 13,
      termsVersion: '2026-11-25',
      defaultQuotaBytes: 1024 * 1024 * 1024,
      smtpUrl: undefined,
      mailFrom: 'Pixbin <pixbin@localhost>',
      storageDriver: 'local',
      s3: null,
      recoveryDays: 14,
      ipLogRetentionDays: 90,
      apiLogRetentionDays: 30,
      webhookLogRetentionDays: 30,
      transparencyMinCount: 5,
      accountPurgeDays: 30,
      jobsEnabled: true,
      jobsDisabled: [],
      jobSchedules: {},
      guestRetention: {
        options: [
          { key: 'never', hours: null, label: 'Never: keep it until I delete it' },
          { key: '1h', hours: 1, label: 'After 1 hour' },
          { key: '1d', hours: 24, label: 'After 1 day' },
          { key: '7d', hours: 168, label: 'After 7 days' },
          { key: '30d', hours: 720, label: 'After 30 days' },
        ],
        defaultKey: 'never',
        maxDays: 0,
      },
      pageViewLogging: false,
      staffReauthMinutes: 15,
      repeatInfringer: { strikes: 3, windowDays: 365 },
      blocklistMatchDistance: 10,
      consentCountryHeader: undefined,
      policy: { operator: undefined, contact: undefined, intro: undefined, jurisdiction: undefined, updated: '2026-11-25' },
    });
  });

  it('refuses a session maximum shorter than the idle window, naming SESSION_MAX_DAYS', () => {
    expect(() => loadConfig({ SESSION_IDLE_DAYS: '30', SESSION_MAX_DAYS: '7' })).to.throw(/SESSION_MAX_DAYS/);
  });

  it('refuses a bcrypt cost below 12, naming BCRYPT_COST', () => {
    expect(() => loadConfig({ BCRYPT_COST: '11' })).to.throw(/BCRYPT_COST/);
    expect(loadConfig({ BCRYPT_COST: '13' }).bcryptCost).to.equal(13);
  });

  it('reads only the environment it is given', () => {
    const saved = process.env.PORT;
    process.env.PORT = '4567';
    try {
      expect(loadConfig({}).port).to.equal(3000);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });

  it('returns a frozen object, turnstile settings included', () => {
    const config = loadConfig({ TURNSTILE_SITE_KEY: SITE_KEY, TURNSTILE_SECRET_KEY: REAL_SECRET });
    expect(Object.isFrozen(config)).to.equal(true);
    expect(Object.isFrozen(config.turnstile)).to.equal(true);
    expect(() => ((config as { port: number }).port = 1)).to.throw(TypeError);
  });

  it('parses every setting it is given', () => {
    const config = loadConfig({
      PORT: ' 8080 ',
      HOST: '127.0.0.1',
      PUBLIC_URL: 'https://pix.example.com/',
      DATA_DIR: '/srv/pixbin',
      DATABASE_URL: 'postgresql://pixbin@db/pixbin',
      MAX_UPLOAD_BYTES: '1048576',
      MAX_IMAGE_PIXELS: '1000000',
      THUMBNAIL_SIZE: '256',
      IMAGE_CONCURRENCY: '4',
      LOG_LEVEL: 'debug',
      SHUTDOWN_TIMEOUT_MS: '0',
    });
    expect(config).to.include({
      port: 8080,
      host: '127.0.0.1',
      publicUrl: 'https://pix.example.com',
      https: true,
      dataDir: path.resolve('/srv/pixbin'),
      databaseUrl: 'postgresql://pixbin@db/pixbin',
      maxUploadBytes: 1048576,
      maxImagePixels: 1_000_000,
      thumbnailSize: 256,
      imageConcurrency: 4,
      logLevel: 'debug',
      shutdownTimeoutMs: 0,
    });
  });

  describe('PROXY_OFFLOAD', () => {
    it('is off by default and names the mode and the internal prefix when on', () => {
      expect(loadConfig({}).proxyOffload).to.equal(null);
      expect(loadConfig({ PROXY_OFFLOAD: 'x-accel-redirect' }).proxyOffload).to.deep.equal({ mode: 'x-accel-redirect', prefix: '/_pixbin_files/' });
      expect(loadConfig({ PROXY_OFFLOAD: 'x-sendfile', PROXY_OFFLOAD_PREFIX: '/files/' }).proxyOffload).to.deep.equal({ mode: 'x-sendfile', prefix: '/files/' });
    });

    it('refuses an unknown mode, a prefix that is not a plain path, and S3 storage', () => {
      expect(() => loadConfig({ PROXY_OFFLOAD: 'yes' })).to.throw(ConfigError, /PROXY_OFFLOAD: must be off, x-accel-redirect or x-sendfile/);
      for (const prefix of ['files/', '/files', '/../x/', '/a b/', 'http://x/']) {
        expect(() => loadConfig({ PROXY_OFFLOAD: 'x-accel-redirect', PROXY_OFFLOAD_PREFIX: prefix }), prefix).to.throw(ConfigError, /PROXY_OFFLOAD_PREFIX/);
      }
      expect(() => loadConfig({ PROXY_OFFLOAD: 'x-accel-redirect', STORAGE_DRIVER: 's3', S3_BUCKET: 'pix' })).to.throw(ConfigError, /PROXY_OFFLOAD: works only with STORAGE_DRIVER=local/);
      expect(() => loadConfig({ PROXY_OFFLOAD: 'x-sendfile', DATA_DIR: '/srv/bilder-ü' })).to.throw(ConfigError, /x-sendfile needs a DATA_DIR path of plain ASCII/);
      expect(loadConfig({ PROXY_OFFLOAD: 'x-accel-redirect', DATA_DIR: '/srv/bilder-ü' }).proxyOffload?.mode).to.equal('x-accel-redirect');
    });
  });

  describe('PUBLIC_URL', () => {
    it('defaults to localhost on the configured port', () => {
      expect(loadConfig({ PORT: '8080' }).publicUrl).to.equal('http://localhost:8080');
    });

    it('drops trailing slashes but keeps a path prefix', () => {
      expect(loadConfig({ PUBLIC_URL: 'https://pix.example.com///' }).publicUrl).to.equal('https://pix.example.com');
      expect(loadConfig({ PUBLIC_URL: 'https://example.com/pix/' }).publicUrl).to.equal('https://example.com/pix');
      expect(loadConfig({ PUBLIC_URL: '  http://10.0.0.5:8080  ' }).publicUrl).to.equal('http://10.0.0.5:8080');
    });
  });

  describe('DATABASE_URL', () => {
    it('accepts postgres:// and postgresql://, and treats blank as unset (SQLite)', () => {
      expect(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).databaseUrl).to.equal('postgres://u@h/db');
      expect(loadConfig({ DATABASE_URL: 'postgresql://u@h/db' }).databaseUrl).to.equal('postgresql://u@h/db');
      expect(loadConfig({ DATABASE_URL: '' }).databaseUrl).to.equal(undefined);
      expect(loadConfig({ DATABASE_URL: '   ' }).databaseUrl).to.equal(undefined);
    });
  });

  describe('TRUST_PROXY', () => {
    const cases: Array<[string | undefined, boolean | number | string]> = [
      [undefined, false],
      ['', false],
      ['false', false],
      ['0', false],
      ['true', true],
      ['1', 1],
      ['2', 2],
      ['loopback', 'loopback'],
      ['10.0.0.0/8, 172.16.0.0/12', '10.0.0.0/8, 172.16.0.0/12'],
    ];
    for (const [value, expected] of cases) {
      it(`reads ${JSON.stringify(value)} as ${JSON.stringify(expected)}`, () => {
        expect(loadConfig({ TRUST_PROXY: value }).trustProxy).to.equal(expected);
      });
    }
  });

  describe('range limits', () => {
    const bounds: Array<[string, number, number]> = [
      ['PORT', 1, 65535],
      ['TURNSTILE_TIMEOUT_MS', 100, 60_000],
      ['MAX_UPLOAD_BYTES', 1024, 1024 ** 3],
      ['MAX_IMAGE_PIXELS', 1, 1_000_000_000],
      ['THUMBNAIL_SIZE', 16, 4096],
      ['DISPLAY_MAX_PX', 64, 8192],
      ['IMAGE_CONCURRENCY', 1, 64],
      ['SHUTDOWN_TIMEOUT_MS', 0, 600_000],
    ];
    for (const [name, min, max] of bounds) {
      it(`accepts ${name} from ${min} to ${max} and refuses one beyond either end`, () => {
        expect(() => loadConfig({ [name]: String(min) })).not.to.throw();
        expect(() => loadConfig({ [name]: String(max) })).not.to.throw();
        expect(namedVariables(configError({ [name]: String(min - 1) }))).to.deep.equal([name]);
        expect(namedVariables(configError({ [name]: String(max + 1) }))).to.deep.equal([name]);
      });
    }
  });

  describe('invalid values', () => {
    const invalid: Array<[string, string]> = [
      ['PORT', '0'],
      ['PORT', '65536'],
      ['PORT', '-1'],
      ['PORT', '80.5'],
      ['PORT', 'http'],
      ['PORT', '3000abc'],
      ['PUBLIC_URL', 'pix.example.com'],
      ['PUBLIC_URL', 'ftp://pix.example.com'],
      ['PUBLIC_URL', 'javascript:alert(1)'],
      ['PUBLIC_URL', 'https://pix.example.com/?ref=x'],
      ['PUBLIC_URL', 'https://pix.example.com/?'],
      ['PUBLIC_URL', 'https://pix.example.com/#top'],
      ['PUBLIC_URL', 'https://pix.example.com/#'],
      ['PUBLIC_URL', 'https://admin:hunter2@pix.example.com'],
      ['PUBLIC_URL', 'https://admin@pix.example.com'],
      ['PUBLIC_URL', 'https://:hunter2@pix.example.com'],
      ['DATABASE_URL', 'mysql://u:p@db/pixbin'],
      ['DATABASE_URL', 'sqlite:./pixbin.db'],
      ['DATABASE_URL', 'postgresx://u@h/db'],
      ['DATABASE_URL', 'host=db user=pixbin'],
      ['TURNSTILE_VERIFY_URL', 'not a url'],
      ['TURNSTILE_VERIFY_URL', 'file:///etc/passwd'],
      ['TURNSTILE_TIMEOUT_MS', 'soon'],
      ['MAX_UPLOAD_BYTES', '25MB'],
      ['MAX_IMAGE_PIXELS', '1.5'],
      ['THUMBNAIL_SIZE', 'Infinity'],
      ['IMAGE_CONCURRENCY', 'NaN'],
      ['LOG_LEVEL', 'verbose'],
      ['LOG_LEVEL', 'INFO'],
      ['SHUTDOWN_TIMEOUT_MS', '-1'],
    ];
    for (const [name, value] of invalid) {
      it(`refuses ${name}=${JSON.stringify(value)} with a ConfigError naming ${name}`, () => {
        const err = configError({ [name]: value });
        expect(err.name).to.equal('ConfigError');
        expect(namedVariables(err)).to.deep.equal([name]);
      });
    }

    it('treats a blank value (PORT= in a .env or compose file) as unset, so the default applies', () => {
      const config = loadConfig({ PORT: '', HOST: '   ', DATA_DIR: ' ', MAX_UPLOAD_BYTES: '', PUBLIC_URL: '', LOG_LEVEL: '' });
      expect(config).to.include({ port: 3000, host: '0.0.0.0', maxUploadBytes: 25 * 1024 * 1024, publicUrl: 'http://localhost:3000', logLevel: 'info' });
      expect(config.dataDir).to.equal(path.resolve('./data'));
    });

    it('names every wrong variable at once', () => {
      const err = configError({ PORT: '0', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x' });
      expect(namedVariables(err).sort()).to.deep.equal(['DATABASE_URL', 'LOG_LEVEL', 'PORT']);
    });

    it('does not repeat a secret value in the error', () => {
      const err = configError({ DATABASE_URL: 'mysql://pixbin:hunter2@db/pixbin', PUBLIC_URL: 'https://u:s3cr3t@x.example' });
      expect(err.message).not.to.include('hunter2');
      expect(err.message).not.to.include('s3cr3t');
    });
  });

  describe('Turnstile', () => {
    it('is off (null) when neither key is set, or both are blank', () => {
      expect(loadConfig({}).turnstile).to.equal(null);
      expect(loadConfig({ TURNSTILE_SITE_KEY: ' ', TURNSTILE_SECRET_KEY: '' }).turnstile).to.equal(null);
    });

    it('is on with Cloudflare’s endpoint and a 5 s timeout by default when both keys are set', () => {
      expect(loadConfig({ TURNSTILE_SITE_KEY: SITE_KEY, TURNSTILE_SECRET_KEY: REAL_SECRET }).turnstile).to.deep.equal({
        siteKey: SITE_KEY,
        secretKey: REAL_SECRET,
        verifyUrl: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
        timeoutMs: 5000,
      });
    });

    it('uses the configured verify URL and timeout', () => {
      const turnstile = loadConfig({
        TURNSTILE_SITE_KEY: SITE_KEY,
        TURNSTILE_SECRET_KEY: REAL_SECRET,
        TURNSTILE_VERIFY_URL: 'http://127.0.0.1:9999/verify',
        TURNSTILE_TIMEOUT_MS: '750',
      }).turnstile;
      expect(turnstile).to.include({ verifyUrl: 'http://127.0.0.1:9999/verify', timeoutMs: 750 });
    });

    it('refuses a site key without a secret, naming TURNSTILE_SECRET_KEY', () => {
      expect(namedVariables(configError({ TURNSTILE_SITE_KEY: SITE_KEY }))).to.deep.equal(['TURNSTILE_SECRET_KEY']);
      expect(namedVariables(configError({ TURNSTILE_SITE_KEY: SITE_KEY, TURNSTILE_SECRET_KEY: '   ' }))).to.deep.equal(['TURNSTILE_SECRET_KEY']);
    });

    it('refuses a secret without a site key, naming TURNSTILE_SITE_KEY', () => {
      expect(namedVariables(configError({ TURNSTILE_SECRET_KEY: REAL_SECRET }))).to.deep.equal(['TURNSTILE_SITE_KEY']);
    });
  });

  describe('_FILE variables (Docker secrets)', () => {
    let dir: string;
    const write = async (name: string, content: string): Promise<string> => {
      const file = path.join(dir, name);
      await fs.writeFile(file, content);
      return file;
    };

    beforeEach(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-config-'));
    });
    afterEach(() => fs.rm(dir, { recursive: true, force: true }));

    it('reads the value from the file and trims surrounding whitespace and newlines', async () => {
      const config = loadConfig({
        TURNSTILE_SITE_KEY: SITE_KEY,
        TURNSTILE_SECRET_KEY_FILE: await write('secret', `  ${REAL_SECRET}\n`),
        DATABASE_URL_FILE: await write('db', 'postgres://pixbin:pw@db/pixbin\r\n'),
        PORT_FILE: await write('port', '8081\n'),
      });
      expect(config.turnstile?.secretKey).to.equal(REAL_SECRET);
      expect(config.databaseUrl).to.equal('postgres://pixbin:pw@db/pixbin');
      expect(config.port).to.equal(8081);
    });

    it('validates the value read from a file like any other, naming the variable', async () => {
      const err = configError({ DATABASE_URL_FILE: await write('db', 'mysql://x\n') });
      expect(namedVariables(err)).to.deep.equal(['DATABASE_URL']);
    });

    it('treats an empty secret file as unset', async () => {
      const err = configError({ TURNSTILE_SITE_KEY: SITE_KEY, TURNSTILE_SECRET_KEY_FILE: await write('empty', '\n') });
      expect(namedVariables(err)).to.deep.equal(['TURNSTILE_SECRET_KEY']);
    });

    it('refuses both X and X_FILE, naming both', async () => {
      let err = configError({ TURNSTILE_SECRET_KEY: REAL_SECRET, TURNSTILE_SECRET_KEY_FILE: await write('secret', REAL_SECRET) });
      expect(err.message).to.include('TURNSTILE_SECRET_KEY and TURNSTILE_SECRET_KEY_FILE are both set');
      err = configError({ DATABASE_URL: 'postgres://a@b/c', DATABASE_URL_FILE: await write('db', 'postgres://a@b/c') });
      expect(err.message).to.include('DATABASE_URL and DATABASE_URL_FILE');
    });

    it('refuses both before reading the file, even a missing one', () => {
      const err = configError({ PORT: '3000', PORT_FILE: path.join(dir, 'missing') });
      expect(err.message).to.include('PORT and PORT_FILE are both set');
    });

    it('uses the file when X is set but empty', async () => {
      expect(loadConfig({ PORT: '', PORT_FILE: await write('port', '4000') }).port).to.equal(4000);
    });

    it('ignores an empty X_FILE', () => {
      expect(loadConfig({ PORT: '4001', PORT_FILE: '' }).port).to.equal(4001);
    });

    it('refuses a missing file, naming the _FILE variable and the reason', () => {
      const missing = path.join(dir, 'no-such-secret');
      const err = configError({ TURNSTILE_SITE_KEY: SITE_KEY, TURNSTILE_SECRET_KEY_FILE: missing });
      expect(err.message).to.match(/^TURNSTILE_SECRET_KEY_FILE: /);
      expect(err.message).to.include(missing).and.include('ENOENT');
    });

    it('refuses a directory given as a file', () => {
      const err = configError({ DATABASE_URL_FILE: dir });
      expect(err.message).to.match(/^DATABASE_URL_FILE: /).and.include('EISDIR');
    });

    it('does not put the file’s contents in an error', async () => {
      const err = configError({ DATABASE_URL_FILE: await write('db', 'mysql://pixbin:hunter2@db/pixbin') });
      expect(err.message).not.to.include('hunter2');
    });
  });
});

describe('startupWarnings', () => {
  it('warns about a well-known database password, naming DATABASE_URL and POSTGRES_PASSWORD', () => {
    const keys = { TURNSTILE_SITE_KEY: 'k', TURNSTILE_SECRET_KEY: 's' };
    const weak = startupWarnings(loadConfig({ ...keys, DATABASE_URL: 'postgres://pixbin:change-me@db:5432/pixbin' }));
    expect(weak).to.have.length(1);
    expect(weak[0]).to.include('DATABASE_URL').and.include('POSTGRES_PASSWORD').and.include('change-me');
    expect(startupWarnings(loadConfig({ ...keys, DATABASE_URL: 'postgres://pixbin:Xk2v9Qw7zR4t@db:5432/pixbin' }))).to.deep.equal([]);
    expect(startupWarnings(loadConfig({ ...keys, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/pixbin' }))).to.deep.equal([]);
  });

  const withSecret = (secret: string): Config => loadConfig({ TURNSTILE_SITE_KEY: SITE_KEY, TURNSTILE_SECRET_KEY: secret });

  it('warns that guest uploads are unprotected when Turnstile is off', () => {
    const warnings = startupWarnings(loadConfig({}));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include('TURNSTILE_SECRET_KEY is not set').and.include('NOT protected');
  });

  for (const secret of ['1x0000000000000000000000000000000AA', '2x0000000000000000000000000000000AA', '3x0000000000000000000000000000000AA']) {
    it(`warns about Cloudflare's test secret ${secret.slice(0, 2)}…`, () => {
      expect(TURNSTILE_DUMMY_SECRETS.has(secret)).to.equal(true);
      const warnings = startupWarnings(withSecret(secret));
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.include('TURNSTILE_SECRET_KEY').and.include('test secrets');
    });
  }

  it('says nothing for a real-looking secret', () => {
    expect(startupWarnings(withSecret(REAL_SECRET))).to.deep.equal([]);
  });

  it('says nothing for a secret that merely resembles a test secret', () => {
    expect(startupWarnings(withSecret('1x0000000000000000000000000000000AB'))).to.deep.equal([]);
  });

  it('warns when METRICS_LISTEN answers beyond this machine; loopback, IPv4 or IPv6, is quiet', () => {
    const listen = (value: string) => startupWarnings(loadConfig({ TURNSTILE_SITE_KEY: SITE_KEY, TURNSTILE_SECRET_KEY: REAL_SECRET, METRICS_LISTEN: value }));
    for (const open of ['0.0.0.0:9464', '[::]:9464', '192.168.1.5:9464', 'metrics.lan:9464']) {
      const warnings = listen(open);
      expect(warnings, open).to.have.length(1);
      expect(warnings[0]).to.include('METRICS_LISTEN').and.include('without a token');
    }
    for (const local of ['127.0.0.1:9464', '[::1]:9464', 'localhost:9464']) expect(listen(local), local).to.deep.equal([]);
  });
});

describe('METRICS_LISTEN', () => {
  it('reads host:port and [IPv6]:port, handing listen() the address without brackets', () => {
    expect(loadConfig({ METRICS_LISTEN: '127.0.0.1:9464' }).metrics).to.deep.include({ listen: { host: '127.0.0.1', port: 9464 } });
    expect(loadConfig({ METRICS_LISTEN: '[::1]:9464' }).metrics).to.deep.include({ listen: { host: '::1', port: 9464 } });
    expect(loadConfig({ METRICS_LISTEN: 'metrics.lan:80' }).metrics).to.deep.include({ listen: { host: 'metrics.lan', port: 80 } });
  });

  for (const bad of ['9464', ':9464', '::1:9464', '[::1]', '127.0.0.1:0', '127.0.0.1:70000', 'a b:1', '[::1]x:1']) {
    it(`refuses ${JSON.stringify(bad)}, naming METRICS_LISTEN`, () => {
      expect(() => loadConfig({ METRICS_LISTEN: bad })).to.throw(ConfigError, /METRICS_LISTEN/);
    });
  }
});
