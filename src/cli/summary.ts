import type { StreamResult } from '../sync/run-sync.js';
import { describeError } from './exit-codes.js';

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** The end-of-sync summary table printed on stdout. */
export function formatSummary(results: readonly StreamResult[], durationMs: number, destination: string): string {
  const header = ['stream', 'status', 'rows', 'rescued', 'rejected', 'seconds', 'rate-limit wait s'];
  const rows = results.map((r) => [
    r.stream,
    r.status,
    String(r.rows),
    String(r.rescued),
    String(r.rejected),
    (r.durationMs / 1000).toFixed(1),
    (r.rateLimitWaitMs / 1000).toFixed(1),
  ]);
  const totals = results.reduce(
    (acc, r) => ({ rows: acc.rows + r.rows, rescued: acc.rescued + r.rescued, rejected: acc.rejected + r.rejected }),
    { rows: 0, rescued: 0, rejected: 0 },
  );
  rows.push(['total', '', String(totals.rows), String(totals.rescued), String(totals.rejected), (durationMs / 1000).toFixed(1), '']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i >= 2)).join('  ');
  const out = [`Synced into ${destination}`, line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const row of rows.slice(0, -1)) out.push(line(row));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '), line(rows[rows.length - 1]!));
  const notes: string[] = [];
  for (const r of results) {
    if (r.status === 'failed' && r.error) notes.push(`FAILED ${r.stream}: ${describeError(r.error)}`);
    if (r.rejected > 0) notes.push(`${r.stream}: ${r.rejected} line(s) were not valid records; their raw text is in _rejected`);
    if (r.rescued > 0) notes.push(`${r.stream}: ${r.rescued} row(s) had values that did not fit their column; kept in _rescued`);
  }
  if (notes.length > 0) out.push('', ...notes);
  return `${out.join('\n')}\n`;
}
