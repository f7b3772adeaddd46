/**
 * Which rows an export returns, and in what order: window `[start, end)` on the type's time
 * field, optional campaign filter and field selection, shuffled (spec §3.9). Works the same for
 * stored rows and for generated sources, whose row i is computed on the fly.
 */
import {
  canonicalDataType,
  isGeneratedRows,
  timeFieldOf,
  type ExportDataType,
  type ExportRow,
  type FakeData,
  type GeneratedRows,
} from './data-types.js';
import { hashString, mix32, permutation, Rng } from './random.js';
import {
  bounceRow,
  clickRow,
  complaintRow,
  openRow,
  sendRow,
  sendSkipRow,
  subscribeRow,
  unsubscribeRow,
  userRow,
  type CampaignRef,
  type MessageRef,
} from './rows.js';
import { formatExportTime, parseExportTime } from './time-format.js';
import { ENGAGEMENT_ROW_BUILDERS, phoneOf } from './engagement-rows.js';

/** A user row's email and userId, as an event names its user. */
export function userOf(user: ExportRow): { email?: string; userId?: string } {
  const who: { email?: string; userId?: string } = {};
  // Users of userId-based and hybrid projects may have no email (or no userId).
  if (typeof user.email === 'string') who.email = user.email;
  if (typeof user.userId === 'string') who.userId = user.userId;
  return who;
}

/** The facts events need about the project: its email campaigns, users, lists and channels. */
export interface RowContext {
  campaigns: CampaignRef[];
  users: ExportRow[];
  listIds: number[];
  marketingChannelIds: number[];
}

/** A deterministic `contentId` for a template (Iterable gives every template version one). */
function contentIdOf(templateId: number): number {
  return 12_000_000 + (templateId % 1_000_000) * 3;
}

/**
 * The campaigns of one medium (default Email) in a data set, with what their events carry
 * (template, message type, channel); the email campaigns when none has that medium.
 */
export function campaignRefs(data: Pick<FakeData, 'campaigns' | 'templates' | 'messageTypes'>, medium = 'Email'): CampaignRef[] {
  if (medium !== 'Email' && !data.campaigns.some((c) => c.messageMedium === medium && c.templateId !== undefined)) return campaignRefs(data);
  const templates = new Map(data.templates.map((t) => [t.template.templateId, t.template]));
  const messageTypes = new Map(data.messageTypes.map((m) => [m.id, m]));
  const refs: CampaignRef[] = [];
  for (const campaign of data.campaigns) {
    if (campaign.messageMedium !== medium || campaign.templateId === undefined) continue;
    const template = templates.get(campaign.templateId);
    const messageTypeId = template?.messageTypeId ?? data.messageTypes[0]?.id ?? 1;
    refs.push({
      campaignId: campaign.id,
      templateId: campaign.templateId,
      messageTypeId,
      channelId: messageTypes.get(messageTypeId)?.channelId ?? 1,
      contentId: contentIdOf(campaign.templateId),
      isTriggered: campaign.type === 'Triggered',
    });
  }
  if (refs.length === 0) {
    refs.push({ campaignId: 1, templateId: 1, messageTypeId: 1, channelId: 1, contentId: contentIdOf(1), isTriggered: false });
  }
  return refs;
}

function rowContext(data: FakeData): RowContext {
  const stored = data.events.user;
  let users: ExportRow[] = stored !== undefined && !isGeneratedRows(stored) ? [...stored] : [];
  if (users.length === 0) users = Array.from({ length: 1000 }, (_, n) => ({ email: `user${n}@example.com` }));
  const channelIds = data.channels.filter((c) => c.channelType === 'Marketing' && c.messageMedium === 'Email').map((c) => c.id);
  return {
    campaigns: campaignRefs(data),
    users,
    listIds: data.lists.filter((l) => l.listType === 'Standard').map((l) => l.id),
    marketingChannelIds: channelIds.length > 0 ? channelIds : [1],
  };
}

/** The instant of each generated row: evenly spaced, about one in eight with milliseconds. */
class GeneratedTimeline {
  private readonly startMs: number;
  private readonly stepMs: number;
  private readonly salt: number;

  constructor(readonly source: GeneratedRows) {
    this.startMs = source.start.getTime();
    this.stepMs = source.count > 0 ? (source.end.getTime() - this.startMs) / source.count : 0;
    this.salt = mix32((source.seed ?? 1) ^ 0x5bd1e995);
  }

  /** Non-decreasing in i. */
  exact(i: number): number {
    return this.startMs + Math.floor(i * this.stepMs);
  }

  /** Non-decreasing in i, and never after the displayed time. */
  floorSecond(i: number): number {
    const ms = this.exact(i);
    return ms - (((ms % 1000) + 1000) % 1000);
  }

  hasMillis(i: number): boolean {
    return (mix32(i ^ this.salt) & 7) === 0 && this.exact(i) !== this.floorSecond(i);
  }

  /** The time the row shows: exact when it carries milliseconds, else cut to the second. */
  displayed(i: number): number {
    return this.hasMillis(i) ? this.exact(i) : this.floorSecond(i);
  }

  /** First index whose `value(i)` is >= bound (values non-decreasing). */
  firstAtOrAfter(bound: number, value: (i: number) => number): number {
    let lo = 0;
    let hi = this.source.count;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (value.call(this, mid) >= bound) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

function pickCampaign(ctx: RowContext, rng: Rng): CampaignRef {
  return ctx.campaigns[rng.int(ctx.campaigns.length)] as CampaignRef;
}

function pickEmail(ctx: RowContext, rng: Rng): string {
  return String((ctx.users[rng.int(ctx.users.length)] as ExportRow).email);
}

function randomMessage(ctx: RowContext, rng: Rng): MessageRef {
  const email = pickEmail(ctx, rng);
  return { email, campaign: pickCampaign(ctx, rng), messageId: rng.hex32() };
}

/** Builds row i of a generated source; a pure function of (type, seed, i). No closures: this is the hot path. */
function generatedRow(ctx: RowContext, dataType: ExportDataType, seed: number, i: number, time: string, rng: Rng): ExportRow {
  // mix32 is a bijection, so no two rows below 2^32 share a random sequence (no repeated messageIds).
  rng.reseed(mix32((i ^ seed) >>> 0));
  switch (dataType) {
    case 'emailSend': {
      const email = pickEmail(ctx, rng);
      return sendRow(rng, email, pickCampaign(ctx, rng), time, rng.hex32());
    }
    case 'emailOpen':
      return openRow(rng, randomMessage(ctx, rng), time);
    case 'emailClick':
      return clickRow(rng, randomMessage(ctx, rng), time);
    case 'emailBounce':
      return bounceRow(rng, randomMessage(ctx, rng), time);
    case 'emailComplaint':
      return complaintRow(randomMessage(ctx, rng), time);
    case 'emailSendSkip': {
      const email = pickEmail(ctx, rng);
      return sendSkipRow(rng, email, pickCampaign(ctx, rng), time, rng.hex32());
    }
    case 'emailSubscribe':
      return subscribeRow(rng, ctx.users[rng.int(ctx.users.length)] as ExportRow, ctx.listIds[rng.int(ctx.listIds.length)] ?? 1, time);
    case 'emailUnSubscribe':
      return unsubscribeRow(rng, randomMessage(ctx, rng), ctx.listIds, ctx.marketingChannelIds, time);
    case 'user': {
      const signupMs = (parseExportTime(time) as number) - rng.between(0, 400) * 86_400_000;
      const emailListIds: number[] = [];
      for (const listId of ctx.listIds) if (rng.chance(0.3)) emailListIds.push(listId);
      return userRow(rng, {
        identity: { email: `gen-user-${i}@example.com`, userId: `gen${i}` },
        profileUpdatedAt: time,
        signupDate: formatExportTime(signupMs),
        emailListIds,
        unsubscribedChannelIds: [],
        unsubscribedMessageTypeIds: [],
      });
    }
    default: {
      const user = ctx.users[rng.int(ctx.users.length)] as ExportRow;
      const subject = { ...userOf(user), phoneNumber: phoneOf(user, rng), campaign: pickCampaign(ctx, rng), messageId: rng.hex32() };
      return ENGAGEMENT_ROW_BUILDERS[dataType](rng, subject, time);
    }
  }
}

/** What one data.json request asks for, already validated. */
export interface ExportQuery {
  dataType: ExportDataType;
  /** Inclusive; -Infinity for no lower bound. */
  startMs: number;
  /** Exclusive; Infinity for no upper bound. */
  endMs: number;
  campaignId?: number;
  onlyFields?: readonly string[];
  omitFields?: readonly string[];
  /** Rows added by a `late` fault, filtered like the others. */
  extraRows?: readonly ExportRow[];
}

function projection(dataType: ExportDataType, query: ExportQuery): (row: ExportRow) => ExportRow {
  const only = query.onlyFields !== undefined && query.onlyFields.length > 0 ? new Set(query.onlyFields) : undefined;
  const omit = query.omitFields !== undefined && query.omitFields.length > 0 ? new Set(query.omitFields) : undefined;
  if (only === undefined && omit === undefined) return (row) => row;
  // With onlyFields Iterable still returns the time field (createdAt; profileUpdatedAt for users) (§3.9).
  only?.add(timeFieldOf(dataType));
  return (row) => {
    const out: ExportRow = {};
    for (const key in row) {
      if (only !== undefined && !only.has(key)) continue;
      if (omit !== undefined && omit.has(key)) continue;
      out[key] = row[key];
    }
    return out;
  };
}

/** Epoch ms of a row's time field, or undefined when it has none or it does not parse. */
export function rowTimeMs(row: ExportRow, dataType: ExportDataType): number | undefined {
  const value = row[timeFieldOf(dataType)];
  return typeof value === 'string' ? parseExportTime(value) : undefined;
}

function inWindow(timeMs: number | undefined, query: ExportQuery): boolean {
  if (timeMs === undefined) return query.startMs === -Infinity && query.endMs === Infinity;
  return timeMs >= query.startMs && timeMs < query.endMs;
}

/**
 * The rows a data.json request returns, in the shuffled order the server sends them. Lazy:
 * a generated source of any size is walked with O(1) memory.
 */
export function* exportRows(data: FakeData, query: ExportQuery): Generator<ExportRow> {
  const { dataType } = query;
  const project = projection(dataType, query);
  const matchesCampaign = (row: ExportRow) => query.campaignId === undefined || row.campaignId === query.campaignId;
  const salt = mix32(hashString(dataType) ^ (Number.isFinite(query.startMs) ? query.startMs % 2147483647 : 0));
  const source = data.events[dataType];
  const stored: ExportRow[] = [];
  for (const row of query.extraRows ?? []) {
    if (inWindow(rowTimeMs(row, dataType), query) && matchesCampaign(row)) stored.push(row);
  }
  if (source !== undefined && !isGeneratedRows(source)) {
    for (const row of source) {
      if (inWindow(rowTimeMs(row, dataType), query) && matchesCampaign(row)) stored.push(row);
    }
  }
  for (const index of permutation(stored.length, salt)) yield project(stored[index] as ExportRow);
  if (source === undefined || !isGeneratedRows(source) || source.count <= 0) return;

  const timeline = new GeneratedTimeline(source);
  const lo = query.startMs === -Infinity ? 0 : timeline.firstAtOrAfter(query.startMs, timeline.exact);
  const hi = query.endMs === Infinity ? source.count : timeline.firstAtOrAfter(query.endMs, timeline.floorSecond);
  if (hi <= lo) return;
  const ctx = rowContext(data);
  const rng = new Rng(0);
  const seed = mix32((source.seed ?? 1) ^ hashString(dataType));
  for (const offset of permutation(hi - lo, salt)) {
    const i = lo + offset;
    const hasMillis = timeline.hasMillis(i);
    const timeMs = hasMillis ? timeline.exact(i) : timeline.floorSecond(i);
    if (timeMs < query.startMs || timeMs >= query.endMs) continue;
    const row = generatedRow(ctx, dataType, seed, i, formatExportTime(timeMs, hasMillis), rng);
    if (matchesCampaign(row)) yield project(row);
  }
}

function resolveDataType(dataTypeName: string): ExportDataType {
  const dataType = canonicalDataType(dataTypeName);
  if (dataType === undefined) throw new Error(`unknown Iterable export data type: ${dataTypeName}`);
  return dataType;
}

/**
 * Every row of one export type in storage order (index order for a generated source), exactly
 * as data.json serialises them; `late` fault rows are not included.
 */
export function fakeRows(data: FakeData, dataTypeName: string): Iterable<ExportRow> {
  const dataType = resolveDataType(dataTypeName);
  const source = data.events[dataType];
  if (source === undefined) return [];
  if (!isGeneratedRows(source)) return source;
  return (function* () {
    const timeline = new GeneratedTimeline(source);
    const ctx = rowContext(data);
    const rng = new Rng(0);
    const seed = mix32((source.seed ?? 1) ^ hashString(dataType));
    for (let i = 0; i < source.count; i++) {
      const hasMillis = timeline.hasMillis(i);
      const time = formatExportTime(hasMillis ? timeline.exact(i) : timeline.floorSecond(i), hasMillis);
      yield generatedRow(ctx, dataType, seed, i, time, rng);
    }
  })();
}

/** The rows data.json returns for `[start, end)`, in the order it sends them. */
export function fakeRowsInWindow(data: FakeData, dataTypeName: string, start: Date, end: Date): ExportRow[] {
  return [...exportRows(data, { dataType: resolveDataType(dataTypeName), startMs: start.getTime(), endMs: end.getTime() })];
}
