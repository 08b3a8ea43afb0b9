import { expect } from 'chai';
import { ConfigError, loadConfig, startupWarnings } from '../../config/config.js';

/** BOT_PROTECTION and the Turnstile keys: today's behaviour when it is unset, and no contradiction allowed. */
describe('BOT_PROTECTION', () => {
  const keys = { TURNSTILE_SITE_KEY: '0x4AAAAAAAsite', TURNSTILE_SECRET_KEY: '0x4AAAAAAAsecret' };
  const fails = (env: Record<string, string>, pattern: RegExp) => {
    expect(() => loadConfig(env)).to.throw(ConfigError, pattern);
  };

  it('unset: Turnstile exactly when its keys are set, as before; otherwise off, with the warning', () => {
    const withKeys = loadConfig(keys);
    expect(withKeys.botProtection).to.equal('turnstile');
    expect(withKeys.turnstile).to.include({ siteKey: keys.TURNSTILE_SITE_KEY });
    expect(withKeys.altcha).to.equal(null);
    const bare = loadConfig({});
    expect(bare.botProtection).to.equal('off');
    expect(startupWarnings(bare).join('\n')).to.match(/NOT protected against bots/);
    expect(loadConfig({ BOT_PROTECTION: '' }).botProtection).to.equal('off');
  });

  it('turnstile needs its keys, naming the variable', () => {
    fails({ BOT_PROTECTION: 'turnstile' }, /TURNSTILE_SECRET_KEY: must be set \(with TURNSTILE_SITE_KEY\) when BOT_PROTECTION=turnstile/);
    expect(loadConfig({ BOT_PROTECTION: 'turnstile', ...keys }).botProtection).to.equal('turnstile');
  });

  it('altcha or off with Turnstile keys set is refused: no guessing which check protects the forms', () => {
    fails({ BOT_PROTECTION: 'altcha', ...keys }, /BOT_PROTECTION: is altcha, but TURNSTILE_SITE_KEY\/TURNSTILE_SECRET_KEY are set/);
    fails({ BOT_PROTECTION: 'off', TURNSTILE_SECRET_KEY: 'x', TURNSTILE_SITE_KEY: 'y' }, /BOT_PROTECTION: is off/);
  });

  it('altcha: no Turnstile, a cost (default 5000), and no "not protected" warning', () => {
    const config = loadConfig({ BOT_PROTECTION: 'altcha' });
    expect(config).to.deep.include({ botProtection: 'altcha', turnstile: null, altcha: { cost: 5000 } });
    expect(startupWarnings(config).join('\n')).not.to.match(/not protected/i);
    expect(loadConfig({ BOT_PROTECTION: 'altcha', ALTCHA_COST: '20000' }).altcha).to.deep.equal({ cost: 20000 });
    fails({ BOT_PROTECTION: 'altcha', ALTCHA_COST: '10' }, /ALTCHA_COST/);
    fails({ BOT_PROTECTION: 'altcha', ALTCHA_COST: 'lots' }, /ALTCHA_COST/);
  });

  it('off: explicit, with the existing warning', () => {
    const config = loadConfig({ BOT_PROTECTION: 'off' });
    expect(config.botProtection).to.equal('off');
    expect(startupWarnings(config).join('\n')).to.match(/NOT protected against bots/);
  });

  it('an unknown value is refused', () => {
    fails({ BOT_PROTECTION: 'recaptcha' }, /BOT_PROTECTION: must be turnstile, altcha or off/);
  });
});
