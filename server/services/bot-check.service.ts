import type { Config } from '../config/config.js';
import type { AltchaSpentRepo } from '../db/altcha-spent.repo.js';
import type { AppSecretsRepo } from '../db/app-secrets.repo.js';
import { NotFound } from '../errors.js';
import { ALTCHA_FIELD, createAltcha, type BotAction } from './altcha.service.js';
import { verifyTurnstile } from './turnstile.service.js';

export { BOT_ACTIONS, isBotAction, type BotAction } from './altcha.service.js';

export type BotCheckInput = { answer: unknown; action: BotAction; remoteIp: string | undefined; hostname: string };

/**
 * The one bot check guests' forms call, whichever BOT_PROTECTION chose: Turnstile (Cloudflare answers), ALTCHA
 * (this server answers), or off. Either way it never fails open: it resolves only when the check passed.
 */
export type BotCheck = {
  kind: Config['botProtection'];
  /** The form field carrying the answer (null when off). */
  field: string | null;
  verify(input: BotCheckInput): Promise<void>;
  /** A fresh ALTCHA challenge for the action; "not found" unless ALTCHA is on. */
  challenge(action: BotAction): Promise<unknown>;
};

export const TURNSTILE_FIELD = 'cf-turnstile-response';

type Deps = { config: Config; repos: { appSecrets: AppSecretsRepo; altchaSpent: AltchaSpentRepo }; clock: () => Date };

export function createBotCheck(deps: Deps): BotCheck {
  const { config } = deps;
  if (config.botProtection === 'turnstile' && config.turnstile) {
    const settings = config.turnstile;
    return {
      kind: 'turnstile',
      field: TURNSTILE_FIELD,
      verify: (input) => verifyTurnstile(settings, { token: input.answer, remoteIp: input.remoteIp, action: input.action, hostname: input.hostname }),
      challenge: () => Promise.reject(new NotFound()),
    };
  }
  if (config.botProtection === 'altcha' && config.altcha) {
    const altcha = createAltcha({ appSecrets: deps.repos.appSecrets, altchaSpent: deps.repos.altchaSpent, clock: deps.clock, cost: config.altcha.cost });
    return {
      kind: 'altcha',
      field: ALTCHA_FIELD,
      verify: (input) => altcha.verify(input.answer, input.action),
      challenge: (action) => altcha.challenge(action),
    };
  }
  // Never fail open: a check that was chosen but lacks its settings is a bug, not "off".
  if (config.botProtection !== 'off') throw new Error(`BOT_PROTECTION=${config.botProtection} without its settings`);
  return { kind: 'off', field: null, verify: () => Promise.resolve(), challenge: () => Promise.reject(new NotFound()) };
}

const shared = new WeakMap<object, WeakMap<Config, BotCheck>>();

/** One bot check per app (its repositories and its configuration), shared by every route group that guards a form. */
export function botCheckFor(deps: Deps): BotCheck {
  let byConfig = shared.get(deps.repos);
  if (!byConfig) shared.set(deps.repos, (byConfig = new WeakMap()));
  let check = byConfig.get(deps.config);
  if (!check) {
    check = createBotCheck(deps);
    byConfig.set(deps.config, check);
  }
  return check;
}
