import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { CONFIG_VARIABLES, loadConfig } from '../../config/config.js';

const envExample = readFileSync('.env.example', 'utf8');
/** Variables only docker-compose.yml reads; documented in .env.example and the README's Docker section. */
const COMPOSE_ONLY = ['POSTGRES_PASSWORD', 'PIXBIN_IMAGE'];
const readme = readFileSync('README.md', 'utf8');

describe('.env.example and the README stay true to the code', () => {
  it('.env.example lists exactly the variables the config reads (plus the compose-only ones), each with a comment above it', () => {
    const names = [...envExample.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    expect([...names].sort()).to.deep.equal([...CONFIG_VARIABLES, ...COMPOSE_ONLY].sort());
    const lines = envExample.split('\n');
    for (const name of names) {
      const at = lines.findIndex((l) => l.startsWith(`${name}=`));
      const above = lines.slice(0, at).reverse();
      const comment = above.find((l) => !/^[A-Z][A-Z0-9_]*=/.test(l));
      expect(comment, name).to.match(/^# /);
    }
  });

  it('docker-compose.yml reads only variables that .env.example documents', () => {
    const compose = readFileSync('docker-compose.yml', 'utf8');
    const used = new Set([...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
    const documented = new Set([...envExample.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect([...used].filter((v) => !documented.has(v))).to.deep.equal([]);
    for (const name of COMPOSE_ONLY) expect(readme, name).to.include(`\`${name}\``);
  });

  it('.env.example, copied as is, is a valid configuration', () => {
    const config = loadConfig(parseEnv(envExample));
    expect(config).to.include({ port: 3000, maxUploadBytes: 25 * 1024 * 1024, turnstile: null, databaseUrl: undefined });
  });

  it("the README's configuration table has a row for every variable and no others", () => {
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 5));
    const rows = [...table.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]);
    expect([...rows].sort()).to.deep.equal([...CONFIG_VARIABLES].sort());
  });

  it('the README opens with what Pixbin is, then the install-and-start and test commands', () => {
    expect(readme.split('\n')[0]).to.equal('# Pixbin');
    const start = readme.indexOf('npm ci && npm start');
    const test = readme.indexOf('npm test');
    expect(start).to.be.greaterThan(0);
    expect(test).to.be.greaterThan(start);
    expect(readme.indexOf('## Configuration')).to.be.greaterThan(test);
  });
});
