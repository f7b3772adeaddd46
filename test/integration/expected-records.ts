/**
 * What the connector must output for the fake's data, computed independently of the connector's
 * own normalisation code: Iterable's `yyyy-MM-dd HH:mm:ss(.SSS) +00:00` and epoch milliseconds
 * become ISO 8601 UTC, `transactionalData` strings become JSON.
 */
import { fakeRows, type FakeData } from '../../src/fake-iterable/server.js';

const EXPORT_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? \+00:00$/;

function isoFromExport(value: string): string {
  return new Date(value.replace(' ', 'T').replace(' +00:00', 'Z')).toISOString();
}

/** The expected record of one raw export row (without `_event_id`). */
export function expectedExportRecord(raw: Record<string, unknown>, dateFields: ReadonlySet<string> = new Set()): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value === 'string' && EXPORT_TIME.test(value)) out[key] = isoFromExport(value);
    else if (key === 'transactionalData' && typeof value === 'string') out[key] = JSON.parse(value);
    else if (typeof value === 'string' && dateFields.has(key) && /^\d{4}-\d{2}-\d{2}$/.test(value)) out[key] = `${value}T00:00:00.000Z`;
    // Custom `date` fields without a zone are taken as UTC.
    else if (typeof value === 'string' && dateFields.has(key) && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(value)) out[key] = `${value.replace(' ', 'T')}.000Z`;
    // Nested objects (Iterable's `itblInternal` bookkeeping) have their times normalised too.
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) out[key] = expectedExportRecord(value as Record<string, unknown>);
    else out[key] = value;
  }
  return out;
}

/** Every expected record of an export type. */
export function expectedExport(data: FakeData, dataTypeName: string, dateFields?: ReadonlySet<string>): Record<string, unknown>[] {
  return [...fakeRows(data, dataTypeName)].map((row) => expectedExportRecord(row, dateFields));
}

/** Custom `date` fields of the fake project's users. */
export function userDateFields(data: FakeData): Set<string> {
  return new Set(Object.entries(data.userFields).filter(([, t]) => t === 'date').map(([name]) => name));
}

/** JSON with sorted keys, so two records compare by content. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Sorted canonical forms of records, leaving out the given fields. */
export function contentOf(records: readonly object[], omit: readonly string[] = ['_event_id']): string[] {
  return records
    .map((r) => {
      const copy: Record<string, unknown> = { ...r };
      for (const f of omit) delete copy[f];
      return canonical(copy);
    })
    .sort();
}

/** Epoch-ms fields → ISO, as the JSON endpoints' records must come out. */
export function isoEpochFields(record: object, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...record };
  for (const f of fields) if (typeof out[f] === 'number') out[f] = new Date(out[f] as number).toISOString();
  return out;
}

/** Stream name → export data type, as in the contract. */
export const EXPORT_STREAMS: Record<string, string> = {
  email_bounce: 'emailBounce',
  email_click: 'emailClick',
  email_complaint: 'emailComplaint',
  email_open: 'emailOpen',
  email_send: 'emailSend',
  email_send_skip: 'emailSendSkip',
  email_subscribe: 'emailSubscribe',
  email_unsubscribe: 'emailUnSubscribe',
  users: 'user',
};

/** Rows each stream's table must hold after a sync of `data`: the non-export streams and the given export streams. */
export function expectedCounts(data: FakeData, exportStreams: Readonly<Record<string, string>> = EXPORT_STREAMS): Record<string, number> {
  const counts: Record<string, number> = {
    campaigns: data.campaigns.length,
    channels: data.channels.length,
    lists: data.lists.length,
    message_types: data.messageTypes.length,
    templates: data.templates.length,
    metadata: data.metadata.reduce((n, t) => n + t.keys.length, 0),
    list_users: [...data.listMembers.values()].reduce((n, m) => n + m.length, 0),
  };
  for (const [stream, type] of Object.entries(exportStreams)) counts[stream] = expectedExport(data, type).length;
  return counts;
}
