/** Shapes of the fake's data set: the JSON objects Iterable returns and the raw export rows. */

/** The 16 template pairs: tap-iterable asks for every templateType × messageMedium (spec §3.7, §4). */
export const TEMPLATE_TYPES = ['Base', 'Blast', 'Triggered', 'Workflow'] as const;
export const TEMPLATE_MEDIA = ['Email', 'Push', 'InApp', 'SMS'] as const;
export type TemplateType = (typeof TEMPLATE_TYPES)[number];
export type TemplateMedium = (typeof TEMPLATE_MEDIA)[number];

/** Campaign states accepted by `campaignState` (spec §3.1). */
export const CAMPAIGN_STATES = [
  'Draft', 'Ready', 'Scheduled', 'Running', 'Finished', 'Starting', 'Aborted', 'Recurring', 'Archived',
] as const;
export type CampaignState = (typeof CAMPAIGN_STATES)[number];

/** Every `dataTypeName` data.json accepts (spec §3.9); matched case-insensitively. */
export const EXPORT_DATA_TYPES = [
  'emailSend', 'emailOpen', 'emailClick', 'hostedUnsubscribeClick', 'emailComplaint', 'emailBounce',
  'emailSendSkip', 'pushSend', 'pushOpen', 'pushUninstall', 'pushBounce', 'pushSendSkip', 'inAppSend',
  'inAppOpen', 'inAppClick', 'inAppClose', 'inAppDelete', 'inAppDelivery', 'inAppSendSkip', 'inAppRecall',
  'inboxSession', 'inboxMessageImpression', 'smsSend', 'smsBounce', 'smsClick', 'smsReceived', 'smsSendSkip',
  'webPushSend', 'webPushClick', 'webPushSendSkip', 'rcsSend', 'rcsSendSkip', 'emailSubscribe',
  'emailUnSubscribe', 'purchase', 'customEvent', 'user', 'smsUsageInfo', 'embeddedSend', 'embeddedSendSkip',
  'embeddedClick', 'embeddedReceived', 'embeddedImpression', 'embeddedSession', 'unknownSession',
  'journeyExit', 'whatsAppBounce', 'whatsAppClick', 'whatsAppReceived', 'whatsAppSeen', 'whatsAppSend',
  'whatsAppSendSkip', 'whatsAppUsageInfo',
] as const;
export type ExportDataType = (typeof EXPORT_DATA_TYPES)[number];

/** The nine export types the connector reads, spelled as Iterable documents them. */
export const CONNECTOR_DATA_TYPES = [
  'emailSend', 'emailOpen', 'emailClick', 'emailBounce', 'emailComplaint', 'emailSendSkip',
  'emailSubscribe', 'emailUnSubscribe', 'user',
] as const satisfies readonly ExportDataType[];
export type ConnectorDataType = (typeof CONNECTOR_DATA_TYPES)[number];

const DATA_TYPE_BY_LOWER = new Map<string, ExportDataType>(EXPORT_DATA_TYPES.map((t) => [t.toLowerCase(), t]));

/**
 * The documented spelling of a `dataTypeName`, or undefined when Iterable would reject it. The
 * match ignores case, so `emailUnsubscribe` (sent by tap-iterable and Airbyte) finds
 * `emailUnSubscribe` (spec §3.9).
 */
export function canonicalDataType(name: string): ExportDataType | undefined {
  return DATA_TYPE_BY_LOWER.get(name.toLowerCase());
}

/** The field an export window filters on: `profileUpdatedAt` for users, else `createdAt` (§3.9). */
export function timeFieldOf(dataType: ExportDataType): 'createdAt' | 'profileUpdatedAt' {
  return dataType === 'user' ? 'profileUpdatedAt' : 'createdAt';
}

/** One raw data.json row: flat JSON, dates as `yyyy-MM-dd HH:mm:ss +00:00` strings. */
export type ExportRow = Record<string, unknown>;

/**
 * Rows computed on demand instead of stored: row i is a pure function of (i, seed) with
 * time = start + i × (end − start) / count, so a million rows cost no memory. The export
 * streams them in a shuffled order.
 */
export interface GeneratedRows {
  count: number;
  start: Date;
  end: Date;
  /** Default 1. */
  seed?: number;
}

/** Rows of one export type: stored rows (any order) or a generated source. */
export type EventSource = readonly ExportRow[] | GeneratedRows;

export function isGeneratedRows(source: EventSource): source is GeneratedRows {
  return !Array.isArray(source);
}

/** `GET /api/campaigns` item (§3.1); optional keys are omitted, never null. */
export interface FakeCampaign {
  id: number;
  createdAt: number;
  updatedAt: number;
  startAt?: number;
  endedAt?: number;
  name: string;
  templateId?: number;
  messageMedium: string;
  createdByUserId: string;
  updatedByUserId?: string;
  campaignState: CampaignState;
  listIds?: number[];
  suppressionListIds?: number[];
  sendSize?: number;
  labels?: string[];
  type: 'Blast' | 'Triggered';
  recurringCampaignId?: number;
  workflowId?: number;
}

/** `GET /api/channels` item (§3.2). */
export interface FakeChannel {
  id: number;
  name: string;
  channelType: 'Marketing' | 'Transactional';
  messageMedium: string;
}

/** `GET /api/lists` item (§3.3). */
export interface FakeList {
  id: number;
  name: string;
  createdAt: number;
  listType: 'Standard' | 'Dynamic' | 'Suppression' | 'Internal';
  description?: string;
  isGlobalSuppressionEnabled?: boolean;
}

/** `GET /api/messageTypes` item (§3.5). */
export interface FakeMessageType {
  id: number;
  createdAt: number;
  updatedAt: number;
  name: string;
  channelId: number;
  subscriptionPolicy: 'OptIn' | 'OptOut';
  frequencyCap?: { days: number; messages: number };
  rateLimitPerMinute?: number;
}

/** `GET /api/templates` item (§3.7). */
export interface TemplateSummary {
  templateId: number;
  createdAt: number;
  updatedAt: number;
  name: string;
  creatorUserId: string;
  messageTypeId: number;
  campaignId?: number;
  clientTemplateId?: string;
}

/** A template and the one type × medium pair it is listed under (not part of the JSON). */
export interface FakeTemplate {
  templateType: TemplateType;
  messageMedium: TemplateMedium;
  template: TemplateSummary;
}

export interface FakeMetadataKey {
  /** Keys are case-sensitive (§3.6). */
  key: string;
  lastModified: number;
  value: Record<string, unknown>;
}

export interface FakeMetadataTable {
  /** Table names are matched case-insensitively (§3.6). */
  name: string;
  keys: FakeMetadataKey[];
}

/** Everything the fake serves. Plain data: tests may build or edit one by hand. */
export interface FakeData {
  /** Appears in error bodies (`project: 2158`). */
  projectId: number;
  campaigns: FakeCampaign[];
  channels: FakeChannel[];
  /** Served in this order (Iterable answers newest first). */
  lists: FakeList[];
  /** Members of each list by list id, as getUsers prints them. Lists without an entry are empty. */
  listMembers: Map<number, string[]>;
  /** Users' userIds by email, used by getUsers `preferUserId=true`. */
  userIds: Map<string, string>;
  messageTypes: FakeMessageType[];
  metadata: FakeMetadataTable[];
  templates: FakeTemplate[];
  /** `GET /api/users/getFields` `fields` (§3.8). */
  userFields: Record<string, string>;
  /** Export rows per documented data type name; absent types export nothing. */
  events: Partial<Record<ExportDataType, EventSource>>;
  /** How the project identifies users (see `FakeDataOptions.projectType`); absent = `email`. */
  projectType?: 'email' | 'userId' | 'hybrid';
}
