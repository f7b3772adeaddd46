/**
 * Builders for the export rows of the 44 data types beyond email and users (contract §4a): push,
 * in-app and inbox, SMS, web push, RCS, purchases, custom events, embedded messages, sessions,
 * journey exits and WhatsApp. Fields follow Iterable's OpenAPI request models
 * (`TrackPurchaseRequest`, `CommerceItem`, `TrackRequest`, `InApp*Request`, `DeviceInfo`,
 * `Embedded*Request`, `Impression`) and its documented system-webhook event fields; the flat
 * shape, the export date strings and the JSON-string `transactionalData` are as on email rows
 * (spec §3.10). Every builder is a pure function of its random generator and inputs.
 */
import { CONNECTOR_DATA_TYPES, type ExportDataType, type ExportRow } from './data-types.js';
import { transactionalData, type CampaignRef } from './rows.js';
import { Rng } from './random.js';
import { formatExportTime, parseExportTime } from './time-format.js';

/** The export types that are neither email events nor users. */
export type EngagementDataType = Exclude<ExportDataType, (typeof CONNECTOR_DATA_TYPES)[number]>;

/** Who an event is about and which message it refers to. */
export interface EventSubject {
  /** Absent for anonymous activity (unknown-user sessions). */
  email?: string;
  userId?: string;
  phoneNumber: string;
  campaign: CampaignRef;
  messageId: string;
}

type Builder = (rng: Rng, subject: EventSubject, createdAt: string) => ExportRow;

/** The campaign medium whose campaigns an event type refers to. */
export function mediumOf(type: EngagementDataType): string | undefined {
  if (type.startsWith('push')) return 'Push';
  if (type.startsWith('inApp') || type.startsWith('inbox')) return 'InApp';
  if (type.startsWith('sms')) return 'SMS';
  if (type.startsWith('webPush')) return 'WebPush';
  return undefined;
}

const SENDER_NUMBERS = ['+14155550100', '+14155550123', '+442071838750'] as const;
const APPS = ['com.example.shop', 'com.example.shop.beta'] as const;
const PLATFORMS = ['iOS', 'Android'] as const;
const SKIP_REASONS = ['FrequencyCapExceeded', 'MessageTypeUnsubscribed', 'ChannelUnsubscribed', 'DuplicateMarketingMessage', 'MissingDeviceToken'] as const;
const BROWSER_AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
] as const;
const PRODUCTS = [
  { id: 'sku-1001', name: 'Trail shoe', categories: ['shoes', 'outdoor'], price: 89.5 },
  { id: 'sku-2040', name: 'Rain jacket', categories: ['outerwear'], price: 149 },
  { id: 'sku-3307', name: 'Wool socks (3 pack)', categories: ['socks'], price: 18.25 },
  { id: 'sku-4410', name: 'Café mug', categories: ['home'], price: 12 },
] as const;
const CUSTOM_EVENTS = ['viewedProduct', 'addedToWishlist', 'startedCheckout', 'appLaunched'] as const;

function hex(rng: Rng, length: number): string {
  return rng.hex32().slice(0, length);
}

function uuid(rng: Rng): string {
  const h = rng.hex32();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** `createdAt` moved by up to `maxMs` (either way), as an export date string to the second. */
function around(createdAt: string, rng: Rng, minMs: number, maxMs: number): string {
  const ms = parseExportTime(createdAt) ?? 0;
  return formatExportTime(Math.floor((ms + rng.between(minMs, maxMs)) / 1000) * 1000);
}

/** Identity fields in Iterable's order: email first, userId when the user has one. */
function who(subject: EventSubject): ExportRow {
  const row: ExportRow = {};
  if (subject.email !== undefined) row.email = subject.email;
  if (subject.userId !== undefined) row.userId = subject.userId;
  return row;
}

/** The ids every messaging event carries at the top level. */
function message(subject: EventSubject, createdAt: string): ExportRow {
  const { campaign } = subject;
  return {
    ...who(subject),
    createdAt,
    campaignId: campaign.campaignId,
    templateId: campaign.templateId,
    messageId: subject.messageId,
  };
}

/** A send: message ids plus channel, type, content and the catalog counters. */
function send(rng: Rng, subject: EventSubject, createdAt: string): ExportRow {
  const { campaign } = subject;
  const row: ExportRow = {
    ...message(subject, createdAt),
    messageTypeId: campaign.messageTypeId,
    channelId: campaign.channelId,
    contentId: campaign.contentId,
    catalogCollectionCount: 0,
    catalogLookupCount: 0,
    productRecommendationCount: rng.chance(0.1) ? rng.between(1, 4) : 0,
  };
  if (campaign.isTriggered && rng.chance(0.4)) row.transactionalData = transactionalData(rng);
  if (rng.chance(0.3)) row.locale = rng.pick(['en_US', 'pl_PL', 'ja_JP']);
  return row;
}

/** A send that was skipped: the ids a send would have had (as on `emailSendSkip`), and why. */
function skip(rng: Rng, subject: EventSubject, createdAt: string): ExportRow {
  const { campaign } = subject;
  return {
    ...message(subject, createdAt),
    messageTypeId: campaign.messageTypeId,
    channelId: campaign.channelId,
    contentId: campaign.contentId,
    reason: rng.pick(SKIP_REASONS),
  };
}

function deviceInfo(rng: Rng): ExportRow {
  return { appPackageName: rng.pick(APPS), deviceId: uuid(rng), platform: rng.pick(PLATFORMS) };
}

function messageContext(rng: Rng): ExportRow {
  const saveToInbox = rng.chance(0.5);
  return { location: saveToInbox && rng.chance(0.5) ? 'inbox' : 'in-app', saveToInbox, silentInbox: saveToInbox && rng.chance(0.2) };
}

function platformEndpoint(rng: Rng, platform: string): string {
  return `arn:aws:sns:us-east-1:123456789012:endpoint/${platform === 'iOS' ? 'APNS' : 'GCM'}/example-shop/${uuid(rng)}`;
}

function impressions(rng: Rng, withPlacement: boolean): ExportRow[] {
  return Array.from({ length: rng.between(1, 3) }, () => {
    const impression: ExportRow = { messageId: rng.hex32() };
    if (withPlacement) impression.placementId = rng.between(100, 120);
    else impression.silentInbox = rng.chance(0.2);
    impression.displayCount = rng.between(1, 5);
    impression.displayDuration = rng.between(5, 1200) / 10;
    return impression;
  });
}

function phones(subject: EventSubject, rng: Rng, inbound = false): ExportRow {
  const ours = rng.pick(SENDER_NUMBERS);
  return inbound ? { fromPhoneNumber: subject.phoneNumber, toPhoneNumber: ours } : { toPhoneNumber: subject.phoneNumber, fromPhoneNumber: ours };
}

const SMS_BODIES = ['Your order has shipped! Track it at https://ex.co/t/{n}', 'Flash sale: 20% off today only. Reply STOP to opt out.', 'Zażółć gęślą jaźń: kod {n}'] as const;

function smsBody(rng: Rng): string {
  return rng.pick(SMS_BODIES).replace('{n}', String(rng.between(1000, 9999)));
}

/** One builder per type; adding a type is one entry. */
export const ENGAGEMENT_ROW_BUILDERS: Readonly<Record<EngagementDataType, Builder>> = {
  hostedUnsubscribeClick: (rng, s, at) => ({
    ...message(s, at),
    ip: `${rng.between(2, 223)}.${rng.int(256)}.${rng.int(256)}.${rng.between(1, 254)}`,
    userAgent: rng.pick(BROWSER_AGENTS),
    userAgentDevice: 'Desktop',
    url: `https://links.example.com/unsubscribe/${rng.hex32()}`,
  }),
  pushSend: (rng, s, at) => {
    const platform = rng.pick(PLATFORMS);
    return { ...send(rng, s, at), platformEndpoint: platformEndpoint(rng, platform), notificationsEnabled: rng.chance(0.9) };
  },
  pushOpen: (rng, s, at) => ({
    ...message(s, at),
    platform: rng.pick(PLATFORMS),
    deviceId: uuid(rng),
    appAlreadyRunning: rng.chance(0.3),
    ...(rng.chance(0.3) ? { dataFields: { deeplink: `shop://product/${rng.between(100, 999)}` } } : {}),
  }),
  pushUninstall: (rng, s, at) => ({ ...message(s, at), platformEndpoint: platformEndpoint(rng, rng.pick(PLATFORMS)), isGhostPush: rng.chance(0.5) }),
  pushBounce: (rng, s, at) => ({
    ...message(s, at),
    platformEndpoint: platformEndpoint(rng, rng.pick(PLATFORMS)),
    isGhostPush: false,
    reason: rng.pick(['EndpointDisabled', 'InvalidToken', 'Unregistered']),
  }),
  pushSendSkip: (rng, s, at) => {
    const row = skip(rng, s, at);
    if (rng.chance(0.3)) row.transactionalData = transactionalData(rng);
    return row;
  },
  inAppSend: (rng, s, at) => {
    const saveToInbox = rng.chance(0.5);
    return {
      ...send(rng, s, at),
      expiresAt: around(at, rng, 86_400_000, 30 * 86_400_000),
      priorityLevel: rng.pick([100.5, 200.5, 300.5]),
      saveToInbox,
      silentInbox: saveToInbox && rng.chance(0.2),
    };
  },
  inAppOpen: (rng, s, at) => ({ ...message(s, at), deviceInfo: deviceInfo(rng), messageContext: messageContext(rng) }),
  inAppClick: (rng, s, at) => ({
    ...message(s, at),
    clickedUrl: rng.chance(0.5) ? 'iterable://dismiss' : `https://shop.example.com/p/${rng.between(100, 999)}`,
    deviceInfo: deviceInfo(rng),
    messageContext: messageContext(rng),
  }),
  inAppClose: (rng, s, at) => {
    const row: ExportRow = { ...message(s, at), closeAction: rng.pick(['link', 'back', 'unknown']) };
    if (row.closeAction === 'link') row.clickedUrl = 'iterable://dismiss';
    if (rng.chance(0.3)) row.inboxSessionId = uuid(rng);
    return { ...row, deviceInfo: deviceInfo(rng), messageContext: messageContext(rng) };
  },
  inAppDelete: (rng, s, at) => ({
    ...message(s, at),
    deleteAction: rng.pick(['inbox-swipe', 'delete-button', 'unknown']),
    deviceInfo: deviceInfo(rng),
    messageContext: messageContext(rng),
  }),
  inAppDelivery: (rng, s, at) => {
    const { location: _location, ...context } = messageContext(rng);
    return { ...message(s, at), deviceInfo: deviceInfo(rng), messageContext: context };
  },
  inAppSendSkip: (rng, s, at) => skip(rng, s, at),
  inAppRecall: (_rng, s, at) => ({ ...message(s, at), messageTypeId: s.campaign.messageTypeId }),
  inboxSession: (rng, s, at) => {
    const total = rng.between(0, 12);
    const unread = rng.between(0, total);
    return {
      ...who(s),
      createdAt: at,
      inboxSessionId: uuid(rng),
      inboxSessionStart: around(at, rng, -600_000, -1000),
      inboxSessionEnd: at,
      startTotalMessageCount: total,
      startUnreadMessageCount: unread,
      endTotalMessageCount: total,
      endUnreadMessageCount: rng.between(0, unread),
      impressions: impressions(rng, false),
      deviceInfo: deviceInfo(rng),
    };
  },
  inboxMessageImpression: (rng, s, at) => ({
    ...message(s, at),
    inboxSessionId: uuid(rng),
    displayCount: rng.between(1, 5),
    displayDuration: rng.between(5, 1200) / 10,
    silentInbox: rng.chance(0.2),
    deviceInfo: deviceInfo(rng),
  }),
  smsSend: (rng, s, at) => {
    const row: ExportRow = { ...send(rng, s, at), ...phones(s, rng), fromSMSSenderId: rng.between(200, 260), smsMessage: smsBody(rng) };
    if (rng.chance(0.15)) row.imageUrl = `https://cdn.example.com/mms/${rng.between(1, 99)}.jpg`;
    return row;
  },
  smsBounce: (rng, s, at) => ({
    ...message(s, at),
    ...phones(s, rng),
    fromSMSSenderId: rng.between(200, 260),
    smsProviderResponseCode: rng.pick(['30003', '30005', '30006']),
    smsProviderResponseMessage: rng.pick(['Unreachable destination handset', 'Unknown destination handset', 'Landline or unreachable carrier']),
  }),
  smsClick: (rng, s, at) => ({
    ...message(s, at),
    ...phones(s, rng),
    url: `https://ex.co/t/${rng.between(1000, 9999)}`,
    ip: `${rng.between(2, 223)}.${rng.int(256)}.${rng.int(256)}.${rng.between(1, 254)}`,
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
    userAgentDevice: 'iPhone',
  }),
  smsReceived: (rng, s, at) => ({ ...message(s, at), ...phones(s, rng, true), smsMessage: rng.pick(['STOP', 'YES', 'HELP', 'Thanks! 👍']) }),
  smsSendSkip: (rng, s, at) => ({ ...skip(rng, s, at), toPhoneNumber: s.phoneNumber }),
  smsUsageInfo: (rng, s, at) => ({
    ...message(s, at),
    toPhoneNumber: s.phoneNumber,
    countryCode: rng.pick(['US', 'GB', 'PL']),
    segmentCount: rng.between(1, 4),
    messageStatus: rng.pick(['delivered', 'sent', 'undelivered']),
    creditCost: rng.between(1, 40) / 100,
  }),
  webPushSend: (rng, s, at) => ({ ...send(rng, s, at), browserToken: `${hex(rng, 16)}:${rng.hex32()}` }),
  webPushClick: (rng, s, at) => ({
    ...message(s, at),
    clickedUrl: `https://shop.example.com/p/${rng.between(100, 999)}`,
    ip: `${rng.between(2, 223)}.${rng.int(256)}.${rng.int(256)}.${rng.between(1, 254)}`,
    userAgent: rng.pick(BROWSER_AGENTS),
    userAgentDevice: 'Desktop',
  }),
  webPushSendSkip: (rng, s, at) => skip(rng, s, at),
  rcsSend: (rng, s, at) => ({ ...send(rng, s, at), ...phones(s, rng), rcsMessage: smsBody(rng) }),
  rcsSendSkip: (rng, s, at) => ({ ...skip(rng, s, at), toPhoneNumber: s.phoneNumber }),
  purchase: (rng, s, at) => {
    const items = Array.from({ length: rng.between(1, 3) }, () => {
      const product = rng.pick(PRODUCTS);
      return { id: product.id, sku: product.id.toUpperCase(), name: product.name, categories: [...product.categories], price: product.price, quantity: rng.between(1, 3) };
    });
    const total = Math.round(items.reduce((sum, item) => sum + item.price * item.quantity, 0) * 100) / 100;
    const row: ExportRow = { ...who(s), id: `ord-${hex(rng, 12)}`, createdAt: at, total, currencyCode: rng.pick(['USD', 'EUR', 'PLN']), items };
    if (rng.chance(0.4)) {
      row.campaignId = s.campaign.campaignId;
      row.templateId = s.campaign.templateId;
    }
    if (rng.chance(0.5)) row.dataFields = { storeId: rng.between(1, 40), isGift: rng.chance(0.1) };
    return row;
  },
  customEvent: (rng, s, at) => {
    const eventName = rng.pick(CUSTOM_EVENTS);
    const row: ExportRow = { ...who(s), eventName, createdAt: at };
    if (rng.chance(0.3)) {
      row.campaignId = s.campaign.campaignId;
      row.templateId = s.campaign.templateId;
    }
    row.dataFields = eventName === 'appLaunched' ? { appVersion: `4.${rng.between(0, 9)}.${rng.between(0, 20)}` } : { productId: rng.pick(PRODUCTS).id, source: rng.pick(['app', 'web']) };
    return row;
  },
  embeddedSend: (rng, s, at) => ({ ...message(s, at), messageTypeId: s.campaign.messageTypeId, placementId: rng.between(100, 120) }),
  embeddedSendSkip: (rng, s, at) => ({ ...skip(rng, s, at), placementId: rng.between(100, 120) }),
  embeddedClick: (rng, s, at) => ({
    ...message(s, at),
    placementId: rng.between(100, 120),
    buttonIdentifier: rng.pick(['primary', 'secondary']),
    targetUrl: `https://shop.example.com/p/${rng.between(100, 999)}`,
    deviceInfo: deviceInfo(rng),
  }),
  embeddedReceived: (rng, s, at) => ({ ...message(s, at), placementId: rng.between(100, 120), deviceInfo: deviceInfo(rng) }),
  embeddedImpression: (rng, s, at) => ({
    ...message(s, at),
    placementId: rng.between(100, 120),
    displayCount: rng.between(1, 5),
    displayDuration: rng.between(5, 1200) / 10,
    embeddedSessionId: uuid(rng),
  }),
  embeddedSession: (rng, s, at) => ({
    ...who(s),
    createdAt: at,
    embeddedSessionId: uuid(rng),
    embeddedSessionStart: around(at, rng, -900_000, -1000),
    embeddedSessionEnd: at,
    impressions: impressions(rng, true),
    deviceInfo: deviceInfo(rng),
  }),
  // Anonymous activity before a user is known: no email, no userId.
  unknownSession: (rng, _s, at) => ({
    createdAt: at,
    sessionId: uuid(rng),
    sessionStart: around(at, rng, -1_800_000, -1000),
    sessionEnd: at,
    ip: `${rng.between(2, 223)}.${rng.int(256)}.${rng.int(256)}.${rng.between(1, 254)}`,
    userAgent: rng.pick(BROWSER_AGENTS),
    deviceInfo: deviceInfo(rng),
  }),
  journeyExit: (rng, s, at) => ({
    ...who(s),
    createdAt: at,
    workflowId: rng.between(10000, 10020),
    workflowName: rng.pick(['Welcome series', 'Cart abandonment', 'Win-back']),
    exitReason: rng.pick(['Completed', 'ExitRuleMatched', 'RemovedFromJourney', 'JourneyDeactivated']),
  }),
  whatsAppBounce: (rng, s, at) => ({ ...message(s, at), ...phones(s, rng), errorCode: rng.pick(['131026', '131047']), errorMessage: 'Message undeliverable' }),
  whatsAppClick: (rng, s, at) => ({ ...message(s, at), ...phones(s, rng), url: `https://shop.example.com/p/${rng.between(100, 999)}` }),
  whatsAppReceived: (rng, s, at) => ({ ...message(s, at), ...phones(s, rng, true), messageBody: rng.pick(['Hi!', 'Where is my order?', 'STOP']) }),
  whatsAppSeen: (rng, s, at) => ({ ...message(s, at), ...phones(s, rng) }),
  whatsAppSend: (rng, s, at) => ({ ...send(rng, s, at), ...phones(s, rng), messageBody: smsBody(rng) }),
  whatsAppSendSkip: (rng, s, at) => ({ ...skip(rng, s, at), toPhoneNumber: s.phoneNumber }),
  whatsAppUsageInfo: (rng, s, at) => ({
    ...message(s, at),
    toPhoneNumber: s.phoneNumber,
    countryCode: rng.pick(['US', 'BR', 'IN']),
    conversationCategory: rng.pick(['marketing', 'utility', 'service']),
    isBillable: rng.chance(0.8),
    pricingModel: 'CBP',
  }),
};

/** The 44 engagement types, in the documented order. */
export const ENGAGEMENT_DATA_TYPES = Object.keys(ENGAGEMENT_ROW_BUILDERS) as EngagementDataType[];

/** A user's phone number, or a made-up one for users without it. */
export function phoneOf(user: ExportRow, rng: Rng): string {
  return typeof user.phoneNumber === 'string' ? user.phoneNumber : `+1555${String(rng.between(0, 9_999_999)).padStart(7, '0')}`;
}
