/**
 * The fake project's data set, generated deterministically from a seed: campaigns, channels,
 * lists with members, message types, metadata, templates on all 16 type × medium pairs, user
 * fields, and export rows of the nine types the connector reads.
 */
import {
  CONNECTOR_DATA_TYPES,
  TEMPLATE_MEDIA,
  TEMPLATE_TYPES,
  type CampaignState,
  type ConnectorDataType,
  type EventSource,
  type ExportDataType,
  type ExportRow,
  type FakeCampaign,
  type FakeChannel,
  type FakeData,
  type FakeList,
  type FakeMessageType,
  type FakeMetadataTable,
  type FakeTemplate,
  type TemplateMedium,
} from './data-types.js';
import { campaignRefs, userOf } from './export-rows.js';
import { ENGAGEMENT_DATA_TYPES, ENGAGEMENT_ROW_BUILDERS, mediumOf, phoneOf, type EngagementDataType } from './engagement-rows.js';
import { hashString, mix32, Rng } from './random.js';
import {
  bounceRow,
  clickRow,
  complaintRow,
  openRow,
  sendRow,
  sendSkipRow,
  subscribeRow,
  unsubscribeRow,
  memberKeyOf,
  projectIdentity,
  userIdentity,
  userRow,
  USER_FIELDS,
  type CampaignRef,
  type MessageRef,
} from './rows.js';
import { formatExportTime, parseExportTime } from './time-format.js';

export * from './data-types.js';
export { ENGAGEMENT_DATA_TYPES, type EngagementDataType } from './engagement-rows.js';
export { exportRows, fakeRows, fakeRowsInWindow, rowTimeMs, type ExportQuery } from './export-rows.js';
export { formatExportTime, parseExportTime, parseRequestDateTime } from './time-format.js';

/** Options of {@link generateFakeData}; every size has a default. */
export interface FakeDataOptions {
  /** Default 1. Same seed and options → same data. */
  seed?: number;
  /** Events and profile updates fall in [start, end). Default 2024-01-01T00:00:00Z. */
  start?: Date;
  /** Default 2024-04-01T00:00:00Z. */
  end?: Date;
  /** Default 2158 (the project id in Iterable's recorded error bodies). */
  projectId?: number;
  /**
   * How the project identifies users (contract §4a): `email` (default; every user has an email),
   * `userId` (every user has a userId, some no email) or `hybrid` (an email, a userId or both).
   * Outside email projects users carry `itblUserId` and `userListIds`, email events name the
   * recipient's userId too, and the other events may name a user by userId alone.
   */
  projectType?: 'email' | 'userId' | 'hybrid';
  /** Users (one `user` export row each). Default 200. */
  users?: number;
  /** Campaigns, each with its own template. Default 40. */
  campaigns?: number;
  /** Minimum templates per templateType × messageMedium pair. Default 2. */
  templatesPerPair?: number;
  /** Lists (one Suppression, two Dynamic, the rest Standard, one Standard empty). Default 8, minimum 4. */
  lists?: number;
  /** Keys in the largest metadata table, `products`. Default 250. */
  metadataKeys?: number;
  /**
   * Stored rows per event type; see {@link DEFAULT_EVENT_COUNTS}, and
   * {@link DEFAULT_ENGAGEMENT_COUNT} for each of the 44 other types. `user` is set by `users`.
   */
  events?: Partial<Record<Exclude<ExportDataType, 'user'>, number>>;
  /** Replace these types' stored rows by a generated source of that many rows over [start, end). */
  generated?: Partial<Record<ExportDataType, number>>;
}

/** Stored rows per event type when `events` does not say (special rows come on top). */
const DEFAULT_EVENT_COUNTS: Readonly<Record<Exclude<ConnectorDataType, 'user'>, number>> = {
  emailSend: 3000,
  emailOpen: 1200,
  emailClick: 400,
  emailBounce: 60,
  emailComplaint: 12,
  emailSendSkip: 150,
  emailSubscribe: 200,
  emailUnSubscribe: 80,
};

/** Stored rows of each push, in-app, SMS, purchase, custom event... type when `events` does not say (one boundary row on top). */
const DEFAULT_ENGAGEMENT_COUNT = 25;

const DAY_MS = 86_400_000;
const STAFF = ['integration-test@example.com', 'marketing@example.com', 'ops@example.com'] as const;

/** Instants at which a window boundary is likely: the range start and every UTC month start in it. */
function boundaryInstants(startMs: number, endMs: number): number[] {
  const instants = [startMs];
  const d = new Date(startMs);
  let month = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  while (month < endMs) {
    instants.push(month);
    const m = new Date(month);
    month = Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1);
  }
  return instants;
}

/** A random instant in [startMs, endMs); about one in eight keeps its milliseconds. */
function randomTime(rng: Rng, startMs: number, endMs: number): string {
  const ms = startMs + Math.floor(rng.next() * (endMs - startMs));
  return rng.chance(0.125) && ms % 1000 !== 0 ? formatExportTime(ms, true) : formatExportTime(ms - (ms % 1000));
}

/** `base` + a delay, kept inside the range. */
function laterTime(rng: Rng, base: string, maxDelayMs: number, endMs: number): string {
  const baseMs = parseExportTime(base) ?? endMs - 1000;
  const room = endMs - 1000 - baseMs;
  const delay = room <= 0 ? 0 : Math.min(room, 1000 + Math.floor(rng.next() * rng.next() * maxDelayMs));
  return formatExportTime(Math.floor((baseMs + delay) / 1000) * 1000);
}

function section(seed: number, name: string): Rng {
  return new Rng(mix32(seed ^ hashString(name)));
}

function makeChannels(): FakeChannel[] {
  return [
    { id: 78858, name: 'Default SMS channel', channelType: 'Marketing', messageMedium: 'SMS' },
    { id: 77694, name: 'Default WebPush channel', channelType: 'Marketing', messageMedium: 'WebPush' },
    { id: 41207, name: 'In-App Marketing Channel', channelType: 'Marketing', messageMedium: 'InApp' },
    { id: 39583, name: 'Push Marketing Channel', channelType: 'Marketing', messageMedium: 'Push' },
    { id: 39582, name: 'Transactional Channel', channelType: 'Transactional', messageMedium: 'Email' },
    { id: 39581, name: 'Marketing Channel', channelType: 'Marketing', messageMedium: 'Email' },
  ];
}

function makeMessageTypes(startMs: number): FakeMessageType[] {
  const at = (days: number) => startMs - days * DAY_MS + 123;
  return [
    { id: 47257, createdAt: at(900), updatedAt: at(900), name: 'Marketing Message', channelId: 39581, subscriptionPolicy: 'OptOut' },
    { id: 47258, createdAt: at(900), updatedAt: at(300), name: 'Transactional Message', channelId: 39582, subscriptionPolicy: 'OptOut' },
    {
      id: 51020, createdAt: at(500), updatedAt: at(20), name: 'Weekly Newsletter', channelId: 39581, subscriptionPolicy: 'OptIn',
      frequencyCap: { days: 7, messages: 2 },
    },
    {
      id: 51021, createdAt: at(450), updatedAt: at(450), name: 'Receipts', channelId: 39582, subscriptionPolicy: 'OptOut',
      rateLimitPerMinute: 5000,
    },
    { id: 47259, createdAt: at(900), updatedAt: at(900), name: 'Push Marketing Message', channelId: 39583, subscriptionPolicy: 'OptOut' },
    { id: 88120, createdAt: at(400), updatedAt: at(400), name: 'In-App Messages', channelId: 41207, subscriptionPolicy: 'OptOut' },
    { id: 97961, createdAt: at(200), updatedAt: at(200), name: 'Default SMS message type', channelId: 78858, subscriptionPolicy: 'OptOut' },
    { id: 97962, createdAt: at(200), updatedAt: at(200), name: 'Default WebPush message type', channelId: 77694, subscriptionPolicy: 'OptOut' },
  ];
}

function messageTypeFor(medium: TemplateMedium, isTransactional: boolean, rng: Rng): number {
  switch (medium) {
    case 'Email':
      return isTransactional ? rng.pick([47258, 51021]) : rng.pick([47257, 47257, 51020]);
    case 'Push':
      return 47259;
    case 'InApp':
      return 88120;
    case 'SMS':
      return 97961;
  }
}

const MEDIA = ['Email', 'Email', 'Email', 'Email', 'Email', 'Email', 'Email', 'Push', 'SMS', 'WebPush', 'InApp'] as const;
const BLAST_STATES: readonly CampaignState[] = [
  'Finished', 'Finished', 'Finished', 'Finished', 'Running', 'Draft', 'Scheduled', 'Ready', 'Aborted', 'Archived', 'Starting',
];
const TRIGGERED_STATES: readonly CampaignState[] = ['Running', 'Running', 'Running', 'Finished', 'Draft', 'Archived'];
const LABELS = [['newsletter'], ['promo', 'q1'], ['onboarding'], ['winback', 'vip']] as const;

function templateMediumOf(campaignMedium: string): TemplateMedium {
  // WebPush campaigns use Push templates: templates list only Email, Push, InApp and SMS (§3.7).
  return campaignMedium === 'WebPush' ? 'Push' : (campaignMedium as TemplateMedium);
}

function makeCampaignsAndTemplates(
  rng: Rng,
  count: number,
  perPair: number,
  startMs: number,
  endMs: number,
  lists: FakeList[],
): { campaigns: FakeCampaign[]; templates: FakeTemplate[] } {
  const campaigns: FakeCampaign[] = [];
  const templates: FakeTemplate[] = [];
  const standardListIds = lists.filter((l) => l.listType === 'Standard').map((l) => l.id);
  const suppressionIds = lists.filter((l) => l.listType === 'Suppression').map((l) => l.id);
  let nextTemplateId = 3_043_600;
  const span = endMs - startMs;

  for (let n = 0; n < count; n++) {
    const id = 2_197_800 + n * 37 + rng.int(30);
    // The first two campaigns are always email campaigns of each type, so events have both.
    const type: 'Blast' | 'Triggered' = n === 0 ? 'Blast' : n === 1 ? 'Triggered' : rng.chance(0.55) ? 'Blast' : 'Triggered';
    const messageMedium = n < 2 ? 'Email' : rng.pick(MEDIA);
    let state = rng.pick(type === 'Blast' ? BLAST_STATES : TRIGGERED_STATES);
    if (n < 2) state = type === 'Blast' ? 'Finished' : 'Running';
    const createdAt = startMs - 120 * DAY_MS + Math.floor(rng.next() * (span + 100 * DAY_MS));
    const updatedAt = Math.min(createdAt + Math.floor(rng.next() * 30 * DAY_MS), endMs + 5 * DAY_MS);
    const creator = rng.pick(STAFF);
    const templateId = nextTemplateId++;
    const when = new Date(createdAt).toUTCString().slice(0, 22);
    const campaign: FakeCampaign = {
      id,
      createdAt,
      updatedAt,
      name: rng.chance(0.5) ? `Campaign created on ${when}` : `${type === 'Blast' ? 'Spring sale' : 'Welcome series'} #${n}`,
      templateId,
      messageMedium,
      createdByUserId: creator,
      campaignState: state,
      type,
    };
    if (rng.chance(0.9)) campaign.updatedByUserId = rng.pick(STAFF);
    if (type === 'Blast') {
      if (['Finished', 'Running', 'Starting', 'Aborted', 'Archived'].includes(state)) {
        campaign.startAt = updatedAt - rng.between(1000, 3_600_000);
        campaign.sendSize = rng.between(0, 25000);
      }
      if (state === 'Finished' || state === 'Aborted') campaign.endedAt = updatedAt;
      if (standardListIds.length > 0) campaign.listIds = [rng.pick(standardListIds)];
      campaign.suppressionListIds = rng.chance(0.3) ? [...suppressionIds] : [];
    } else {
      campaign.suppressionListIds = [];
      if (rng.chance(0.3)) campaign.workflowId = rng.between(10000, 99999);
    }
    if (rng.chance(0.8)) campaign.labels = rng.chance(0.35) ? [...rng.pick(LABELS)] : [];
    // Reorder keys to Iterable's order (id, createdAt, updatedAt, startAt, endedAt, name, ...).
    campaigns.push(reorder(campaign, CAMPAIGN_KEY_ORDER));

    const medium = templateMediumOf(messageMedium);
    templates.push({
      templateType: type,
      messageMedium: medium,
      template: {
        templateId,
        createdAt: createdAt - rng.between(1000, 600_000),
        updatedAt: Math.max(createdAt, updatedAt - rng.between(0, 60_000)),
        name: `${campaign.name} Template`,
        creatorUserId: creator,
        messageTypeId: messageTypeFor(medium, type === 'Triggered', rng),
        campaignId: id,
      },
    });
  }

  // A recurring parent with two children.
  const recurring = campaigns.find((c) => c.type === 'Blast' && c.campaignState !== 'Finished' && c.id !== campaigns[0]?.id);
  if (recurring !== undefined) {
    recurring.campaignState = 'Recurring';
    for (const child of campaigns.filter((c) => c.type === 'Blast' && c !== recurring && c.campaignState === 'Finished').slice(1, 3)) {
      child.recurringCampaignId = recurring.id;
    }
  }

  // Fill every pair up to the minimum with campaign-less templates.
  for (const templateType of TEMPLATE_TYPES) {
    for (const messageMedium of TEMPLATE_MEDIA) {
      let have = templates.filter((t) => t.templateType === templateType && t.messageMedium === messageMedium).length;
      for (; have < perPair; have++) {
        const createdAt = startMs - 200 * DAY_MS + Math.floor(rng.next() * (span + 200 * DAY_MS));
        const templateId = nextTemplateId++;
        const template: FakeTemplate = {
          templateType,
          messageMedium,
          template: {
            templateId,
            createdAt,
            updatedAt: createdAt + rng.between(0, 20 * DAY_MS),
            name: `${templateType} ${messageMedium} template ${templateId}`,
            creatorUserId: rng.pick(STAFF),
            messageTypeId: messageTypeFor(messageMedium, templateType === 'Triggered', rng),
          },
        };
        if (rng.chance(0.3)) template.template.clientTemplateId = `client-${templateId}`;
        templates.push(template);
      }
    }
  }
  return { campaigns, templates };
}

const CAMPAIGN_KEY_ORDER = [
  'id', 'createdAt', 'updatedAt', 'startAt', 'endedAt', 'name', 'templateId', 'messageMedium', 'createdByUserId',
  'updatedByUserId', 'campaignState', 'listIds', 'suppressionListIds', 'sendSize', 'labels', 'type',
  'recurringCampaignId', 'workflowId',
];

function reorder<T extends object>(object: T, order: readonly string[]): T {
  const source = object as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of order) if (source[key] !== undefined) out[key] = source[key];
  return out as T;
}

function makeLists(rng: Rng, count: number, startMs: number): FakeList[] {
  const lists: FakeList[] = [];
  const total = Math.max(4, count);
  for (let n = 0; n < total; n++) {
    const listType: FakeList['listType'] = n === 0 ? 'Suppression' : n === 1 || n === 2 ? 'Dynamic' : 'Standard';
    const list: FakeList = {
      id: 949_810 + n * 1013,
      name: listType === 'Suppression' ? 'Global suppression' : n === 3 ? 'Empty import list' : `${listType} list ${n}`,
      createdAt: startMs - (total - n) * 17 * DAY_MS + rng.between(0, DAY_MS),
      listType,
    };
    if (rng.chance(0.4)) list.description = `Audience ${n} for tests`;
    if (listType === 'Suppression') list.isGlobalSuppressionEnabled = true;
    lists.push(list);
  }
  // Iterable lists newest first (§3.3).
  return lists.reverse();
}

function makeMetadata(rng: Rng, productKeys: number, startMs: number): FakeMetadataTable[] {
  const lastModified = () => Math.floor((startMs - rng.between(0, 400) * DAY_MS) / 1000) * 1000;
  const products = Array.from({ length: productKeys }, (_, n) => ({
    key: `sku${String(n).padStart(5, '0')}`,
    lastModified: lastModified(),
    value: { title: `Product ${n}`, price: rng.between(99, 99999) / 100, inStock: rng.chance(0.8), tags: ['fake'] },
  }));
  const stores = ['main', 'Dublin', 'dublin', 'Krakow', 'SaoPaulo'].map((key) => ({
    key,
    lastModified: lastModified(),
    value: { name: `Store ${key}`, address: { city: key, open: '09:00' } },
  }));
  const config = ['main', 'featureFlags', 'emptyValue'].map((key) => ({
    key,
    lastModified: lastModified(),
    value: key === 'emptyValue' ? {} : { enabled: true, rollout: rng.between(0, 100) },
  }));
  return [
    { name: 'products', keys: products },
    { name: 'stores', keys: stores },
    { name: 'Config', keys: config },
    { name: 'archive2019', keys: [] },
  ];
}

/**
 * Every fourth event row carries Iterable's `itblInternal` bookkeeping as a nested object, first,
 * as in `userEvents` rows (spec §3.12): the document's creation (the event's `createdAt`) and
 * last update (up to two seconds later), in the export format. A function of the row and its
 * index only, so no other row changes.
 */
function withBookkeeping(row: ExportRow, n: number): ExportRow {
  if (n % 4 !== 2 || typeof row.createdAt !== 'string') return row;
  const createdMs = parseExportTime(row.createdAt);
  if (createdMs === undefined) return row;
  const updated = formatExportTime(Math.floor(createdMs / 1000) * 1000 + (n % 3) * 1000);
  return { itblInternal: { documentCreatedAt: row.createdAt, documentUpdatedAt: updated }, ...row };
}

/** A message (an event with a `messageId`) of a campaign that a journey (workflow) sends carries the journey's `workflowId`. */
function withJourney(row: ExportRow, journeys: ReadonlyMap<number, number>): ExportRow {
  const workflowId = typeof row.campaignId === 'number' && row.messageId !== undefined ? journeys.get(row.campaignId) : undefined;
  return workflowId === undefined || row.workflowId !== undefined ? row : { ...row, workflowId };
}

/** Generates a complete, deterministic fake project. */
export function generateFakeData(options: FakeDataOptions = {}): FakeData {
  const seed = options.seed ?? 1;
  const startMs = (options.start ?? new Date('2024-01-01T00:00:00Z')).getTime();
  const endMs = (options.end ?? new Date('2024-04-01T00:00:00Z')).getTime();
  if (!(endMs > startMs)) throw new Error('generateFakeData: end must be after start');
  const counts = { ...DEFAULT_EVENT_COUNTS, ...options.events };
  const boundaries = boundaryInstants(startMs, endMs);

  const channels = makeChannels();
  const messageTypes = makeMessageTypes(startMs);
  const lists = makeLists(section(seed, 'lists'), options.lists ?? 8, startMs);
  const { campaigns, templates } = makeCampaignsAndTemplates(
    section(seed, 'campaigns'), options.campaigns ?? 40, options.templatesPerPair ?? 2, startMs, endMs, lists,
  );
  const metadata = makeMetadata(section(seed, 'metadata'), options.metadataKeys ?? 250, startMs);

  // Users and list membership.
  const userRng = section(seed, 'users');
  const userCount = options.users ?? 200;
  const projectType = options.projectType ?? 'email';
  const identities = Array.from({ length: userCount }, (_, n) => projectIdentity(projectType, userIdentity(userRng, n), n));
  const listMembers = new Map<number, string[]>();
  const memberLists = new Map<string, number[]>();
  for (const list of lists) {
    const isEmpty = list.name === 'Empty import list';
    const share = list.listType === 'Suppression' ? 0.03 : list.listType === 'Dynamic' ? 0.5 : 0.25;
    const members = isEmpty ? [] : identities.filter(() => userRng.chance(share)).map(memberKeyOf);
    listMembers.set(list.id, members);
    if (list.listType === 'Suppression') continue;
    for (const member of members) memberLists.set(member, [...(memberLists.get(member) ?? []), list.id]);
  }
  const userIds = new Map<string, string>();
  for (const u of identities) if (u.userId !== undefined) userIds.set(memberKeyOf(u), u.userId);
  const users: ExportRow[] = identities.map((identity, n) => {
    // Some profiles were updated exactly on a window boundary.
    const boundary = n < boundaries.length * 2 && n % 2 === 1 ? boundaries[(n - 1) / 2] : undefined;
    const profileUpdatedAt = boundary !== undefined ? formatExportTime(boundary) : randomTime(userRng, startMs, endMs);
    const updatedMs = parseExportTime(profileUpdatedAt) as number;
    return userRow(userRng, {
      identity,
      profileUpdatedAt,
      signupDate: formatExportTime(Math.floor((updatedMs - userRng.between(0, 700) * DAY_MS) / 1000) * 1000),
      emailListIds: memberLists.get(memberKeyOf(identity)) ?? [],
      listIdsField: projectType === 'email' ? 'emailListIds' : 'userListIds',
      unsubscribedChannelIds: userRng.chance(0.05) ? [39581] : [],
      unsubscribedMessageTypeIds: userRng.chance(0.05) ? [51020] : [],
    });
  });

  const data: FakeData = {
    projectId: options.projectId ?? 2158,
    campaigns,
    channels,
    lists,
    listMembers,
    userIds,
    messageTypes,
    metadata,
    templates,
    userFields: { ...USER_FIELDS },
    events: {},
    ...(projectType !== 'email' ? { projectType } : {}),
  };

  const refs = campaignRefs(data);
  // Email events go to users with an email (all of them in an email project).
  const withEmail = users.filter((u) => typeof u.email === 'string');
  const emails = withEmail.length > 0 ? withEmail.map((u) => String(u.email)) : ['nobody@example.com'];
  const rngFor = (type: string) => section(seed, `events:${type}`);

  // emailSend, with look-alike pairs and boundary instants.
  const sendRng = rngFor('emailSend');
  const sends: ExportRow[] = [];
  const pickSend = (campaign?: CampaignRef) => {
    const c = campaign ?? sendRng.pick(refs);
    return sendRow(sendRng, sendRng.pick(emails), c, randomTime(sendRng, startMs, endMs), sendRng.hex32());
  };
  for (let n = 0; n < counts.emailSend; n++) sends.push(pickSend());
  if (counts.emailSend > 0) {
    for (const instant of boundaries) {
      sends.push({ ...pickSend(), createdAt: formatExportTime(instant) });
      if (instant - 1000 >= startMs) sends.push({ ...pickSend(), createdAt: formatExportTime(instant - 1000) });
    }
    // Same email, campaign and messageId; only createdAt differs (an hour; 250 ms).
    const original = sends[0] as ExportRow;
    const originalMs = parseExportTime(String(original.createdAt)) as number;
    const secondMs = originalMs + 3_600_000 < endMs ? originalMs + 3_600_000 : originalMs - 3_600_000;
    sends.push({ ...original, createdAt: formatExportTime(secondMs) });
    const base = Math.floor(originalMs / 1000) * 1000;
    sends.push({ ...original, createdAt: formatExportTime(base + 250, true) });
    if (base !== originalMs) sends.push({ ...original, createdAt: formatExportTime(base) });
  }
  const messages: (MessageRef & { createdAt: string })[] = sends.map((s) => ({
    email: String(s.email),
    campaign: refs.find((r) => r.campaignId === s.campaignId) ?? (refs[0] as CampaignRef),
    messageId: String(s.messageId),
    createdAt: String(s.createdAt),
  }));
  const fallbackMessage = (rng: Rng) => ({
    email: rng.pick(emails), campaign: rng.pick(refs), messageId: rng.hex32(), createdAt: randomTime(rng, startMs, endMs),
  });
  const pickMessage = (rng: Rng) => (messages.length > 0 ? rng.pick(messages) : fallbackMessage(rng));

  const reactions = (
    type: string,
    count: number,
    maxDelayMs: number,
    build: (rng: Rng, m: MessageRef, createdAt: string) => ExportRow,
  ): ExportRow[] => {
    const rng = rngFor(type);
    const rows = Array.from({ length: count }, () => {
      const m = pickMessage(rng);
      return build(rng, m, laterTime(rng, m.createdAt, maxDelayMs, endMs));
    });
    if (count > 0) rows.push(build(rng, pickMessage(rng), formatExportTime(boundaries[1] ?? startMs)));
    return rows;
  };

  const skipRng = rngFor('emailSendSkip');
  const subscribeRng = rngFor('emailSubscribe');
  const subscribeLists = lists.filter((l) => l.listType === 'Standard' && (listMembers.get(l.id)?.length ?? 0) > 0);
  const standardListIds = lists.filter((l) => l.listType === 'Standard').map((l) => l.id);
  const stored: Record<ConnectorDataType, ExportRow[]> = {
    emailSend: sends,
    emailOpen: reactions('emailOpen', counts.emailOpen, 3 * DAY_MS, openRow),
    emailClick: reactions('emailClick', counts.emailClick, DAY_MS, clickRow),
    emailBounce: reactions('emailBounce', counts.emailBounce, 60_000, bounceRow),
    emailComplaint: reactions('emailComplaint', counts.emailComplaint, 2 * DAY_MS, (_rng, m, at) => complaintRow(m, at)),
    emailSendSkip: Array.from({ length: counts.emailSendSkip }, () =>
      sendSkipRow(skipRng, skipRng.pick(emails), skipRng.pick(refs), randomTime(skipRng, startMs, endMs), skipRng.hex32()),
    ),
    emailSubscribe: withEmail.length === 0 ? [] : Array.from({ length: counts.emailSubscribe }, () => {
      const user = subscribeRng.pick(withEmail);
      const listId = subscribeLists.length > 0 ? subscribeRng.pick(subscribeLists).id : (lists[0]?.id ?? 1);
      return subscribeRow(subscribeRng, user, listId, randomTime(subscribeRng, startMs, endMs));
    }),
    emailUnSubscribe: reactions('emailUnSubscribe', counts.emailUnSubscribe, 5 * DAY_MS, (rng, m, at) =>
      unsubscribeRow(rng, m, standardListIds, [39582, 39581], at),
    ),
    user: users,
  };

  if (projectType !== 'email') {
    // userId-based and hybrid projects name the recipient's userId next to the email [I].
    const userIdByEmail = new Map<string, string>();
    for (const u of identities) if (u.email !== undefined && u.userId !== undefined) userIdByEmail.set(u.email, u.userId);
    for (const type of CONNECTOR_DATA_TYPES) {
      if (type === 'user') continue;
      stored[type] = stored[type].map((row) => withUserId(row, userIdByEmail));
    }
  }

  // Each type has its own generator (rngFor), so adding types never changes the rows of others.
  const engagement = {} as Record<EngagementDataType, ExportRow[]>;
  for (const type of ENGAGEMENT_DATA_TYPES) {
    const rng = rngFor(type);
    const typeRefs = campaignRefs(data, mediumOf(type));
    const build = ENGAGEMENT_ROW_BUILDERS[type];
    const count = options.events?.[type] ?? DEFAULT_ENGAGEMENT_COUNT;
    const subject = () => {
      const user = users.length > 0 ? rng.pick(users) : { email: 'nobody@example.com' };
      return { ...userOf(user), phoneNumber: phoneOf(user, rng), campaign: rng.pick(typeRefs), messageId: rng.hex32() };
    };
    const rows = Array.from({ length: count }, () => build(rng, subject(), randomTime(rng, startMs, endMs)));
    // One event exactly on a window boundary (a month start), as for the email reactions.
    if (count > 0) rows.push(build(rng, subject(), formatExportTime(boundaries[1] ?? startMs)));
    engagement[type] = rows;
  }

  const journeys = new Map(campaigns.filter((c) => c.workflowId !== undefined).map((c) => [c.id, c.workflowId as number]));
  for (const type of [...CONNECTOR_DATA_TYPES, ...ENGAGEMENT_DATA_TYPES]) {
    const generatedCount = options.generated?.[type];
    const source: EventSource =
      generatedCount !== undefined
        ? { count: generatedCount, start: new Date(startMs), end: new Date(endMs), seed: mix32(seed ^ hashString(type)) }
        : type in stored ? stored[type as ConnectorDataType] : engagement[type as EngagementDataType];
    data.events[type] = Array.isArray(source) && type !== 'user' ? source.map((row, n) => withBookkeeping(withJourney(row, journeys), n)) : source;
  }
  return data;
}

/** An email event row with the recipient's userId after the email (rows that have one keep theirs). */
function withUserId(row: ExportRow, userIdByEmail: ReadonlyMap<string, string>): ExportRow {
  const userId = typeof row.email === 'string' ? userIdByEmail.get(row.email) : undefined;
  if (userId === undefined || row.userId !== undefined) return row;
  const out: ExportRow = {};
  for (const [key, value] of Object.entries(row)) {
    out[key] = value;
    if (key === 'email') out.userId = userId;
  }
  return out;
}
