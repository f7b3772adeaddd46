/**
 * Builders for raw export rows in Iterable's shapes (spec §3.10): key order as in recorded rows,
 * dates as export strings, `transactionalData` as a JSON-encoded string, users flat with dotted
 * keys and custom fields at the top level. Shared by the stored data set and generated sources.
 */
import type { ExportRow } from './data-types.js';
import { hexPattern, Rng } from './random.js';

/** What an event needs to know about the campaign that sent it. */
export interface CampaignRef {
  campaignId: number;
  templateId: number;
  messageTypeId: number;
  channelId: number;
  contentId: number;
  isTriggered: boolean;
}

/** The message an open, click, bounce or complaint refers to. */
export interface MessageRef {
  email: string;
  campaign: CampaignRef;
  messageId: string;
}

const GEO = [
  { city: 'Honnali', region: 'KA', country: 'India' },
  { city: 'Kyiv', region: '30', country: 'Ukraine' },
  { city: 'Kraków', region: '12', country: 'Poland' },
  { city: 'São Paulo', region: 'SP', country: 'Brazil' },
  { city: 'Zürich', region: 'ZH', country: 'Switzerland' },
  { city: 'Austin', region: 'TX', country: 'United States' },
  { city: 'Dublin', region: 'L', country: 'Ireland' },
  { city: '東京', region: '13', country: 'Japan' },
] as const;

const USER_AGENTS = [
  {
    userAgent:
      'Mozilla/5.0 (X11; CrOS x86_64 13729.72.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/89.0.4389.116 Safari/537.36',
    userAgentDevice: 'Other',
  },
  {
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.150 Safari/537.36',
    userAgentDevice: 'Linux',
  },
  {
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
    userAgentDevice: 'iPhone',
  },
  {
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    userAgentDevice: 'Windows',
  },
] as const;

const GMAIL_PROXY_AGENT = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';

function ip(rng: Rng): string {
  return `${rng.between(2, 223)}.${rng.int(256)}.${rng.int(256)}.${rng.between(1, 254)}`;
}

const MESSAGE_BUS_ID = hexPattern('0100018xxxxxxxxx-xxxxxxxx-xxxx-4xxx-axxx-xxxxxxxxxxxx-000000');

/** A provider id like `01000178d1341a2f-0b4e8650-bce6-4464-adcc-74408648c444-000000`. */
export function messageBusId(rng: Rng): string {
  return rng.fillHex(MESSAGE_BUS_ID);
}

function makeTransactionalData(rng: Rng): string {
  if (rng.chance(0.25)) return '{"data":[]}';
  const items = Array.from({ length: rng.between(1, 3) }, () => ({
    sku: `SKU-${rng.between(1000, 9999)}`,
    quantity: rng.between(1, 4),
    price: rng.between(199, 19999) / 100,
  }));
  return JSON.stringify({ orderId: `ord-${rng.between(100000, 999999)}`, items, shipping: { method: 'ground', days: rng.between(1, 7) } });
}

// A fixed pool keeps generated rows cheap; 97 variants are plenty for tests.
const TRANSACTIONAL_DATA = Array.from({ length: 97 }, (_, n, rng = new Rng(0x7d00 + n)) => makeTransactionalData(rng));

/** Trigger data as Iterable exports it: a JSON-encoded string, never an object (§3.10). */
export function transactionalData(rng: Rng): string {
  return TRANSACTIONAL_DATA[rng.int(TRANSACTIONAL_DATA.length)] as string;
}

export function sendRow(rng: Rng, email: string, campaign: CampaignRef, createdAt: string, messageId: string): ExportRow {
  const row: ExportRow = {
    email,
    messageTypeId: campaign.messageTypeId,
    catalogLookupCount: 0,
    templateId: campaign.templateId,
    messageBusId: messageBusId(rng),
    messageId,
    createdAt,
    catalogCollectionCount: 0,
    campaignId: campaign.campaignId,
    channelId: campaign.channelId,
    productRecommendationCount: 0,
    contentId: campaign.contentId,
  };
  if (campaign.isTriggered && rng.chance(0.4)) row.transactionalData = transactionalData(rng);
  if (rng.chance(0.1)) row.espName = 'SparkPost';
  return row;
}

export function openRow(rng: Rng, message: MessageRef, createdAt: string): ExportRow {
  const { email, campaign, messageId } = message;
  if (rng.chance(0.15)) {
    // Gmail's image proxy: no geo fields at all (§3.10).
    return {
      ip: `66.249.84.${rng.between(1, 254)}`,
      email,
      userAgent: GMAIL_PROXY_AGENT,
      templateId: campaign.templateId,
      messageId,
      createdAt,
      campaignId: campaign.campaignId,
      userAgentDevice: 'Gmail',
      proxySource: 'Gmail',
    };
  }
  const geo = rng.pick(GEO);
  const agent = rng.pick(USER_AGENTS);
  const isGeoUnknown = rng.chance(0.04); // a few geo fields arrive as null rather than omitted
  return {
    city: isGeoUnknown ? null : geo.city,
    ip: ip(rng),
    email,
    country: geo.country,
    userAgent: agent.userAgent,
    templateId: campaign.templateId,
    messageId,
    createdAt,
    region: isGeoUnknown ? null : geo.region,
    campaignId: campaign.campaignId,
    userAgentDevice: agent.userAgentDevice,
  };
}

export function clickRow(rng: Rng, message: MessageRef, createdAt: string): ExportRow {
  const { email, campaign, messageId } = message;
  const geo = rng.pick(GEO);
  const agent = rng.pick(USER_AGENTS);
  const hrefIndex = rng.between(0, 4);
  return {
    city: geo.city,
    ip: ip(rng),
    country: geo.country,
    userAgent: agent.userAgent,
    templateId: campaign.templateId,
    messageId,
    createdAt,
    campaignId: campaign.campaignId,
    userAgentDevice: agent.userAgentDevice,
    hrefIndex,
    email,
    url: hrefIndex === 0 ? 'https://iterable.com' : `https://shop.example.com/p/${rng.between(100, 999)}?utm_source=iterable&utm_medium=email`,
    region: geo.region,
    contentId: campaign.contentId,
  };
}

export function bounceRow(rng: Rng, message: MessageRef, createdAt: string): ExportRow {
  const isHard = rng.chance(0.7);
  const row: ExportRow = {
    email: message.email,
    templateId: message.campaign.templateId,
    recipientState: isHard ? 'HardBounce' : 'SoftBounce',
    status: isHard ? '5.1.1' : '4.2.2',
    messageId: message.messageId,
    createdAt,
    campaignId: message.campaign.campaignId,
  };
  if (rng.chance(0.5)) {
    row.bounceMessage = isHard
      ? '550 5.1.1 The email account that you tried to reach does not exist.'
      : '452 4.2.2 The email account that you tried to reach is over quota.';
  }
  return row;
}

export function complaintRow(message: MessageRef, createdAt: string): ExportRow {
  return {
    email: message.email,
    createdAt,
    campaignId: message.campaign.campaignId,
    templateId: message.campaign.templateId,
    messageId: message.messageId,
    recipientState: 'Complaint',
  };
}

const SKIP_REASONS = [
  'DuplicateMarketingMessage', 'FrequencyCapExceeded', 'MessageTypeUnsubscribed', 'ChannelUnsubscribed',
  'ListUnsubscribed', 'InvalidEmailAddress',
] as const;

export function sendSkipRow(rng: Rng, email: string, campaign: CampaignRef, createdAt: string, messageId: string): ExportRow {
  const row: ExportRow = {
    email,
    createdAt,
    campaignId: campaign.campaignId,
    templateId: campaign.templateId,
    messageTypeId: campaign.messageTypeId,
    channelId: campaign.channelId,
    contentId: campaign.contentId,
    messageId,
    reason: rng.pick(SKIP_REASONS),
  };
  if (rng.chance(0.3)) row.transactionalData = transactionalData(rng);
  return row;
}

const FIRST_NAMES = ['Jane', 'John', 'Ana', 'Olek', 'Mei', 'Zoë', 'Ravi', 'Fatima', 'Lars', 'Chidi', 'Sofía', 'Kenji'] as const;
const LAST_NAMES = ['Smith', 'Kowalski', 'Silva', 'Müller', 'Tanaka', 'Okafor', 'Patel', 'García', "O'Brien", 'Nguyen'] as const;
const DOMAINS = ['example.com', 'iterable.com', 'mail.example.org', 'bmail.com', 'example.co.uk'] as const;
const INDUSTRIES = ['Retail', 'Finance', 'Healthcare', 'Media', 'Travel'] as const;
const SIGNUP_SOURCES = ['Import', 'API', 'ListAPI', 'WebForm'] as const;

/** A user's identity, picked once and reused by user rows and subscription events. */
export interface UserIdentity {
  /** Absent for some users of userId-based and hybrid projects. */
  email?: string;
  userId?: string;
  /** Iterable's internal id of users in userId-based and hybrid projects. */
  itblUserId?: string;
}

/** The line getUsers prints for a user without `preferUserId`: the email, or the userId of a user without one [I]. */
export function memberKeyOf(identity: UserIdentity): string {
  return identity.email ?? (identity.userId as string);
}

/**
 * The identity of user number `n` in a project of this type, from its email-project identity.
 * userId-based: every user has a userId, one in three no email. Hybrid: at least one of the two,
 * one in five email only and one in five userId only. Both: an `itblUserId` on every user, and
 * no extra random draws, so the email project's data never changes.
 */
export function projectIdentity(projectType: 'email' | 'userId' | 'hybrid', base: UserIdentity, n: number): UserIdentity {
  if (projectType === 'email') return base;
  const userId = base.userId ?? `user${100000 + n}`;
  // A 24-hex-digit id (the format of Iterable's internal ids is not documented) [I].
  const itblUserId = `${(0x5f000000 + n).toString(16)}${(n * 2654435761 >>> 0).toString(16).padStart(8, '0')}${(n + 1).toString(16).padStart(8, '0')}`;
  if (projectType === 'userId') return n % 3 === 1 ? { userId, itblUserId } : { email: base.email, userId, itblUserId };
  if (n % 5 === 1) return { email: base.email, itblUserId };
  if (n % 5 === 2) return { userId, itblUserId };
  return { email: base.email, userId, itblUserId };
}

/** A plausible, unique email address for user number `n`. */
export function userIdentity(rng: Rng, n: number): UserIdentity {
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  const local = `${first}.${last}`.normalize('NFD').replace(/[^A-Za-z.]/g, '').toLowerCase();
  // A `+` in some addresses: clients must percent-encode it when they send it back.
  const tag = n % 17 === 5 ? '+news' : '';
  const email = `${local}${n}${tag}@${rng.pick(DOMAINS)}`;
  return rng.chance(0.85) ? { email, userId: `user${100000 + n}` } : { email };
}

export interface UserRowInput {
  identity: UserIdentity;
  profileUpdatedAt: string;
  signupDate: string;
  emailListIds: number[];
  unsubscribedChannelIds: number[];
  unsubscribedMessageTypeIds: number[];
  /** userId-based and hybrid projects list static lists in `userListIds`, email projects in `emailListIds`. */
  listIdsField?: 'emailListIds' | 'userListIds';
}

/**
 * A `user` export row (§3.10): flat, nested objects flattened to dotted keys, custom fields at
 * the top level, some names colliding by case (`Industry` / `industry`).
 */
export function userRow(rng: Rng, input: UserRowInput): ExportRow {
  const { identity } = input;
  const first = rng.pick(FIRST_NAMES);
  const row: ExportRow = { [input.listIdsField ?? 'emailListIds']: input.emailListIds, lastName: rng.pick(LAST_NAMES) };
  if (identity.userId !== undefined) row.userId = identity.userId;
  if (identity.email !== undefined) row.email = identity.email;
  if (identity.itblUserId !== undefined) row.itblUserId = identity.itblUserId;
  row.unsubscribedChannelIds = input.unsubscribedChannelIds;
  row.firstName = first;
  row.signupDate = input.signupDate;
  if (identity.email !== undefined) row['itblInternal.emailDomain'] = identity.email.slice(identity.email.indexOf('@') + 1);
  row['itblInternal.documentCreatedAt'] = input.signupDate;
  row['itblInternal.documentUpdatedAt'] = input.profileUpdatedAt;
  row.profileUpdatedAt = input.profileUpdatedAt;
  row.signupSource = rng.pick(SIGNUP_SOURCES);
  row.unsubscribedMessageTypeIds = input.unsubscribedMessageTypeIds;
  if (rng.chance(0.5)) {
    const geo = rng.pick(GEO);
    row.city = geo.city;
    row.country = geo.country;
    row.timeZone = 'Europe/Dublin';
    row.locale = rng.pick(['en_US', 'pl_PL', 'pt_BR', 'ja_JP']);
  }
  if (rng.chance(0.3)) row.phoneNumber = `+1555${String(rng.between(0, 9999999)).padStart(7, '0')}`;
  // Custom profile fields.
  row.LTV = rng.between(0, 250000) / 100;
  row.isVip = rng.chance(0.2);
  if (rng.chance(0.6)) row.someDate = `20${rng.between(10, 23)}-${String(rng.between(1, 12)).padStart(2, '0')}-13`;
  const industryPick = rng.int(10);
  if (industryPick < 4) row.Industry = rng.pick(INDUSTRIES);
  else if (industryPick < 7) row.industry = rng.pick(INDUSTRIES).toLowerCase();
  else if (industryPick === 7) {
    row.Industry = 'Retail';
    row.industry = 'retail';
  }
  if (rng.chance(0.3)) {
    const count = rng.between(1, 3);
    row['shoppingCartItems.name'] = Array.from({ length: count }, () => `Item ${rng.between(1, 99)}`);
    row['shoppingCartItems.price'] = Array.from({ length: count }, () => rng.between(99, 9999) / 100);
  }
  if (rng.chance(0.4)) {
    row['address.city'] = rng.pick(GEO).city;
    row['address.zip'] = String(rng.between(10000, 99999));
  }
  if (rng.chance(0.15)) row['offers.Intro APR'] = rng.between(0, 2999) / 100;
  if (rng.chance(0.25)) row.lastPurchaseDate = `2016-11-${String(rng.between(10, 29))} 13:22:56`;
  return row;
}

/** `getFields` types for every field user rows can carry, plus a few never filled in (§3.8). */
export const USER_FIELDS: Readonly<Record<string, string>> = {
  email: 'string',
  userId: 'string',
  firstName: 'string',
  lastName: 'string',
  signupDate: 'date',
  signupSource: 'string',
  profileUpdatedAt: 'date',
  emailListIds: 'long',
  unsubscribedChannelIds: 'long',
  unsubscribedMessageTypeIds: 'long',
  subscribedMessageTypeIds: 'long',
  itblInternal: 'object',
  'itblInternal.emailDomain': 'string',
  'itblInternal.documentCreatedAt': 'date',
  'itblInternal.documentUpdatedAt': 'date',
  city: 'string',
  country: 'string',
  timeZone: 'string',
  locale: 'string',
  phoneNumber: 'string',
  LTV: 'double',
  isVip: 'boolean',
  someDate: 'date',
  Industry: 'string',
  industry: 'string',
  shoppingCartItems: 'object',
  'shoppingCartItems.name': 'string',
  'shoppingCartItems.price': 'double',
  address: 'object',
  'address.city': 'string',
  'address.zip': 'string',
  offers: 'object',
  'offers.Intro APR': 'double',
  lastPurchaseDate: 'date',
  devices: 'object',
  'devices.token': 'string',
  'devices.platform': 'string',
  'defaultAddress.number': 'long',
};

/** An `emailSubscribe` row: the user's profile fields ride along at the top level (§3.10). */
export function subscribeRow(rng: Rng, user: ExportRow, listId: number, createdAt: string): ExportRow {
  const row: ExportRow = { email: user.email, emailListIds: [listId] };
  if (user.lastName !== undefined) row.lastName = user.lastName;
  if (user.userId !== undefined) row.userId = user.userId;
  if (user.firstName !== undefined) row.firstName = user.firstName;
  row.channelIds = [];
  if (user.someDate !== undefined) row.someDate = user.someDate;
  if (user.isVip !== undefined) row.isVip = user.isVip;
  for (const field of ['phoneNumber', 'city', 'country', 'locale', 'timeZone'] as const) if (user[field] !== undefined) row[field] = user[field];
  if (user.profileUpdatedAt !== undefined) row.profileUpdatedAt = user.profileUpdatedAt;
  row.createdAt = createdAt;
  row.signupSource = rng.pick(SIGNUP_SOURCES);
  return row;
}

/** An `emailUnSubscribe` row, in one of the three shapes recorded or declared (§3.10). */
export function unsubscribeRow(
  rng: Rng,
  message: MessageRef,
  listIds: readonly number[],
  channelIds: readonly number[],
  createdAt: string,
): ExportRow {
  const flavour = rng.int(3);
  if (flavour === 0) {
    return {
      email: message.email,
      unsubSource: 'HardBounce',
      emailListIds: [],
      channelIds: [...channelIds],
      templateId: message.campaign.templateId,
      recipientState: 'HardBounce',
      status: '5.1.1',
      messageId: message.messageId,
      createdAt,
    };
  }
  if (flavour === 1 || listIds.length === 0) {
    return {
      email: message.email,
      unsubSource: 'EmailLink',
      emailListIds: [],
      channelIds: [message.campaign.channelId],
      campaignId: message.campaign.campaignId,
      templateId: message.campaign.templateId,
      messageId: message.messageId,
      createdAt,
    };
  }
  return {
    email: message.email,
    unsubSource: rng.pick(['Import', 'API', 'ListAPI']),
    emailListIds: [rng.pick(listIds)],
    channelIds: [],
    createdAt,
  };
}
