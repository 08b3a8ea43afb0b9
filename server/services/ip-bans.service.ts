import { randomUUID } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { IpBan } from '../db/ip-bans.repo.js';
import type { Repos } from '../db/repos.js';
import { isImageId } from '../lib/ids.js';
import { BadRequest, Forbidden, NotFound } from '../errors.js';
import { recordStaffAction, type StaffActor } from './audit.service.js';

const DAY_MS = 24 * 60 * 60 * 1000;
// Narrower than these, a typo could stop a whole country (or the internet) from uploading.
const WIDEST_PREFIX = { ipv4: 8, ipv6: 16 } as const;
// What "ban the uploader's address" covers: one IPv4 address, or the /64 an IPv6 host usually controls whole.
const UPLOADER_PREFIX = { ipv4: 32, ipv6: 64 } as const;

const messages = {
  banGone: 'That ban has already ended or been lifted.',
  cidr: 'Enter an IP address or a CIDR range, like 203.0.113.7, 198.51.100.0/24 or 2001:db8::/48.',
  tooWide: `That range is too wide to ban from here: use at most /${WIDEST_PREFIX.ipv4} for IPv4 and /${WIDEST_PREFIX.ipv6} for IPv6.`,
  days: (max: number) => `A ban lasts from 1 to ${max} days (addresses are not kept longer than IP_LOG_RETENTION_DAYS).`,
  noAddress: 'The uploader’s address is no longer on record (the security log is rotated), so it cannot be banned from here.',
  banned: (until: Date) => `Uploads from your network are paused by this site’s moderators until ${until.toISOString().slice(0, 10)}.`,
};

type Family = 'ipv4' | 'ipv6';
export type Cidr = { address: string; prefix: number; family: Family };

/** An IPv4 address written as IPv6 (::ffff:a.b.c.d), as a dual-stack socket reports it, is the IPv4 address. */
export function plainAddress(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return mapped ? mapped[1]! : ip;
}

/** Parses "address" or "address/prefix"; refuses anything else, and ranges wider than WIDEST_PREFIX. */
export function parseCidr(input: string): Cidr {
  const text = input.trim().slice(0, 64);
  const [rawAddress, rawPrefix, ...rest] = text.split('/');
  const address = plainAddress(rawAddress ?? '');
  const version = isIP(address);
  if (rest.length || !version || (rawPrefix !== undefined && !/^\d{1,3}$/.test(rawPrefix))) throw new BadRequest(messages.cidr, 'bad_cidr');
  const family: Family = version === 4 ? 'ipv4' : 'ipv6';
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = rawPrefix === undefined ? max : Number(rawPrefix);
  if (prefix > max) throw new BadRequest(messages.cidr, 'bad_cidr');
  if (prefix < WIDEST_PREFIX[family]) throw new BadRequest(messages.tooWide, 'cidr_too_wide');
  return { address: address.toLowerCase(), prefix, family };
}

export type { IpBan };

export async function listBans(repos: Pick<Repos, 'ipBans'>, now: Date): Promise<IpBan[]> {
  return repos.ipBans.listActive(now);
}

/**
 * Bans a range from uploading until it expires. The range itself is kept only in ip_bans, never in the audit log
 * (which is permanent): a ban lasts at most IP_LOG_RETENTION_DAYS, and the expiry job deletes it afterwards.
 */
export async function addBan(repos: Repos, actor: StaffActor, input: { cidr: Cidr; days: number; reason: string }, maxDays: number, now: Date): Promise<IpBan> {
  if (!Number.isInteger(input.days) || input.days < 1 || input.days > maxDays) throw new BadRequest(messages.days(maxDays), 'bad_ban_days');
  const ban = { id: randomUUID(), cidr: `${input.cidr.address}/${input.cidr.prefix}`, reason: input.reason.trim().slice(0, 2000) || null, createdAt: now, expiresAt: new Date(now.getTime() + input.days * DAY_MS) };
  await repos.transaction(async (tx) => {
    await tx.ipBans.insert({ ...ban, createdBy: actor.user.id });
    await recordStaffAction(tx, actor, { action: 'ip_ban.add', targetType: 'ip_ban', targetId: ban.id, reason: ban.reason, detail: { days: input.days, family: input.cidr.family, prefix: input.cidr.prefix } }, now);
  });
  return ban;
}

/** Bans the address an image was uploaded from, as the security log still has it; the moderator never sees it. */
export async function banUploaderOf(repos: Repos, actor: StaffActor, imageId: string, days: number, reason: string, maxDays: number, now: Date): Promise<IpBan> {
  if (!isImageId(imageId)) throw new NotFound(messages.noAddress);
  const ip = await repos.securityLog.uploadAddressOf(imageId);
  if (!ip) throw new NotFound(messages.noAddress);
  const address = plainAddress(ip);
  const family: Family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
  return addBan(repos, actor, { cidr: { address, prefix: UPLOADER_PREFIX[family], family }, days, reason }, maxDays, now);
}

export async function liftBan(repos: Repos, actor: StaffActor, id: string, now: Date): Promise<void> {
  await repos.transaction(async (tx) => {
    if (!(await tx.ipBans.delete(id.slice(0, 36)))) throw new NotFound(messages.banGone);
    await recordStaffAction(tx, actor, { action: 'ip_ban.lift', targetType: 'ip_ban', targetId: id }, now);
  });
}

/** Refuses an upload from a banned range (logged as upload.refused, with the address, in the rotated log). */
export async function assertNotBanned(repos: Pick<Repos, 'ipBans' | 'securityLog'>, client: { ip: string | undefined; userId: string | null; userAgent: string | undefined }, now: Date): Promise<void> {
  if (!client.ip) return;
  const address = plainAddress(client.ip);
  const version = isIP(address);
  if (!version) return;
  const bans = await listBans(repos, now);
  if (!bans.length) return;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  let until: Date | null = null;
  for (const ban of bans) {
    const [net, prefix] = ban.cidr.split('/');
    const list = new BlockList();
    if (isIP(net!) !== version) continue;
    list.addSubnet(net!, Number(prefix), family);
    if (list.check(address, family) && (!until || ban.expiresAt > until)) until = ban.expiresAt;
  }
  if (!until) return;
  await repos.securityLog.insert({ event: 'upload.refused', userId: client.userId, ip: client.ip, userAgent: client.userAgent, detail: { cause: 'ip_ban' } }, now);
  throw new Forbidden(messages.banned(until), 'upload_banned');
}
