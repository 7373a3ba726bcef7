// The report as one self-contained HTML file: inline CSS and SVG, no scripts, no external assets.
import { formatUsd } from '../llm/prices';
import type { ReportData, TableRow } from './model';

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : '–');
const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}%`);
const int = (x: number) => x.toLocaleString('en-US');

function cell(m: TableRow['auc']): string {
  return m.n > 1 ? `${f4(m.mean)} <span class="std">± ${f4(m.std)}</span>` : f4(m.mean);
}

/** "+0.0123 [+0.0050, +0.0196]", or "no difference (…)" when the 95 % interval contains 0. */
function deltaCell(r: TableRow): string {
  const d = r.deltaAuc;
  if (!d) return '<td></td>';
  const s = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`;
  const body = `${s(d.delta)} [${s(d.lo)}, ${s(d.hi)}]`;
  if (d.noDifference) return `<td class="same">no difference <span class="std">(${body})</span></td>`;
  return `<td class="${d.delta > 0 ? 'up' : 'down'}">${body}</td>`;
}

function table2(d: ReportData): string {
  if (d.table.length === 0) return '<p class="muted">No trained models in this run.</p>';
  const rows = d.table
    .map(
      (r) =>
        `<tr><td>${esc(r.backbone)}</td><td>${esc(r.variant)}${r.imported ? ' <span class="std">(imported)</span>' : ''}</td><td>${esc(r.features)}</td><td>${cell(r.auc)}</td>` +
        `<td class="${(r.relAuc ?? 0) > 0 ? 'up' : (r.relAuc ?? 0) < 0 ? 'down' : ''}">${pct(r.relAuc)}</td>${deltaCell(r)}<td>${cell(r.logloss)}</td>` +
        `<td class="${(r.relLogloss ?? 0) < 0 ? 'up' : (r.relLogloss ?? 0) > 0 ? 'down' : ''}">${pct(r.relLogloss)}</td><td>${r.auc.n}</td></tr>`,
    )
    .join('');
  const floor = d.floor
    ? `<tr class="floor"><td colspan="3">non-neural floor (logistic regression, 4 features)</td><td>${f4(d.floor.auc)}</td><td></td><td></td><td>${f4(d.floor.logloss)}</td><td></td><td>1</td></tr>`
    : '';
  const note =
    '<p class="muted">AUC and LogLoss: mean ± std over seeds. Δ AUC: the variant minus its backbone\'s base, averaged over seeds, with a 95 % interval ' +
    '(a paired bootstrap over test users plus the spread over seeds); an interval that contains 0 reads "no difference".</p>';
  return `${note}<table><thead><tr><th>backbone</th><th>variant</th><th>features</th><th>AUC</th><th>Δ AUC vs base</th><th>Δ AUC, 95 % interval</th><th>LogLoss</th><th>Δ LogLoss vs base</th><th>seeds</th></tr></thead><tbody>${rows}${floor}</tbody></table>`;
}

/** Horizontal bars of AUC per backbone × variant, axis from the smallest value shown. */
function aucBars(d: ReportData): string {
  const rows = d.table;
  if (rows.length === 0) return '';
  const values = rows.map((r) => r.auc.mean).concat(d.floor ? [d.floor.auc] : []).filter(Number.isFinite);
  const lo = Math.floor((Math.min(...values) - 0.01) * 100) / 100;
  const hi = Math.ceil((Math.max(...values) + 0.005) * 100) / 100;
  const w = 520;
  const bh = 16;
  const colors: Record<string, string> = { base: '#9aa5b1', kar: '#f0b429', r2ec: '#4c9aff', r4ec: '#2f855a' };
  const items = [...rows.map((r) => ({ label: `${r.backbone} · ${r.variant}`, v: r.auc.mean, color: colors[r.variant] ?? '#718096' })), ...(d.floor ? [{ label: 'floor (LR)', v: d.floor.auc, color: '#c53030' }] : [])];
  const h = items.length * (bh + 6) + 24;
  const x = (v: number) => 170 + ((v - lo) / (hi - lo || 1)) * (w - 180);
  const bars = items
    .map((it, i) => {
      const y = i * (bh + 6) + 4;
      return `<text x="165" y="${y + 12}" text-anchor="end">${esc(it.label)}</text><rect x="170" y="${y}" width="${Math.max(1, x(it.v) - 170).toFixed(1)}" height="${bh}" fill="${it.color}"/><text x="${(x(it.v) + 4).toFixed(1)}" y="${y + 12}">${f4(it.v)}</text>`;
    })
    .join('');
  return `<svg class="chart" viewBox="0 0 ${w + 60} ${h}" width="${w + 60}" height="${h}" role="img" aria-label="AUC by backbone and variant">${bars}<text x="170" y="${h - 4}" class="axis">${lo.toFixed(2)}</text><text x="${w - 10}" y="${h - 4}" class="axis" text-anchor="end">${hi.toFixed(2)}</text></svg>`;
}

function buckets(title: string, groups: ReportData['userBuckets']): string {
  if (groups.length === 0) return '';
  const names = groups[0]!.results.map((r) => r.bucket);
  const head = `<tr><th>model</th>${names.map((n, i) => `<th>${esc(n)}<br><span class="muted">${int(groups[0]!.results[i]!.samples)} samples</span></th>`).join('')}</tr>`;
  const body = groups.map((g) => `<tr><td>${esc(g.backbone)} · ${esc(g.variant)}</td>${g.results.map((r) => `<td>${f4(r.auc)}</td>`).join('')}</tr>`).join('');
  return `<h3>${esc(title)}</h3><table>${head}${body}</table>`;
}

function counts(title: string, byDomain: Record<string, Record<string, number>> | undefined): string {
  if (!byDomain) return '';
  const outcomes = [...new Set(Object.values(byDomain).flatMap((o) => Object.keys(o)))];
  const head = `<tr><th>domain</th>${outcomes.map((o) => `<th>${esc(o)}</th>`).join('')}<th>total</th></tr>`;
  const body = Object.entries(byDomain)
    .map(([d, o]) => `<tr><td>${esc(d)}</td>${outcomes.map((k) => `<td>${int(o[k] ?? 0)}</td>`).join('')}<td>${int(Object.values(o).reduce((a, b) => a + b, 0))}</td></tr>`)
    .join('');
  return `<h3>${esc(title)}</h3><table>${head}${body}</table>`;
}

export function renderHtml(d: ReportData): string {
  const imported = d.imported
    ? `<div class="banner">Knowledge imported from files for <b>${d.imported.sets.map(esc).join(', ')}</b> (content ${esc(d.imported.contentHash.slice(0, 12))}): construct, finetune and refine did not run.</div>`
    : '';
  const simulated = (role: string) => d.llm.models === undefined || (d.llm.models[role]?.endsWith('(simulator)') ?? true);
  const banner = !d.simulator
    ? ''
    : simulated('actor') || simulated('reflection')
      ? `<div class="banner">The knowledge in this run was produced by the offline <b>LLM simulator</b> (catalog + prompt only), not by a language model. Use it to check the pipeline, not to judge the method.</div>`
      : `<div class="banner">The teacher (construct's training data) was the offline <b>LLM simulator</b>; refine's knowledge was written by the models listed under Models.</div>`;
  const importedSkip = new Set(d.imported ? ['construct', 'finetune', 'refine'] : []);
  const why = (s: ReportData['stages'][number]) => (!s.skipped ? '' : importedSkip.has(s.stage) ? ' (knowledge imported)' : ' (output existed)');
  const stageRows = d.stages.map((s) => `<tr><td>${esc(s.stage)}</td><td>${esc(s.status)}${why(s)}</td><td>${s.seconds.toFixed(1)} s</td></tr>`).join('');
  const money = d.llm.money;
  const usage = d.llm.usage
    .map((u) => `<tr><td>${esc(u.stage)}</td><td>${esc(u.role)}</td><td>${int(u.calls)}</td><td>${int(u.cacheHits)}</td><td>${int(u.promptTokens)}</td><td>${int(u.completionTokens)}</td>${money ? `<td>${u.usd !== undefined ? esc(formatUsd(u.usd)) : '—'}</td>` : ''}</tr>`)
    .join('');
  const latency = d.llm.latency.map((l) => `<tr><td>${esc(l.stage)}</td><td>${int(l.entities)}</td><td>${l.p50.toFixed(0)} ms</td><td>${l.p90.toFixed(0)} ms</td><td>${l.p99.toFixed(0)} ms</td></tr>`).join('');
  const t = d.llm.total;
  const models = Object.entries(d.llm.models ?? {});
  const modelRows = models.map(([role, m]) => `<tr><td>${esc(role)}</td><td>${esc(m)}</td></tr>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>r4ec report · ${esc(d.runId)}</title><style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1a202c;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px;font-variant-numeric:tabular-nums}th,td{border:1px solid #e2e8f0;padding:4px 8px;text-align:right}
th{background:#f7fafc}td:first-child,th:first-child{text-align:left}.up{color:#2f855a}.same{color:#4a5568}.down{color:#c53030}.std{color:#718096;font-size:12px}
.muted{color:#718096;font-size:12px}.floor td{background:#fff5f5}.banner{background:#fffbea;border:1px solid #f0b429;padding:10px 14px;margin:12px 0;border-radius:4px}
.chart text{font-size:11px;fill:#2d3748}.chart .axis{fill:#718096}.kv{display:flex;gap:24px;flex-wrap:wrap}.kv div{background:#f7fafc;padding:8px 12px;border-radius:4px}
</style></head><body>
<h1>r4ec report</h1><div class="muted">run <b>${esc(d.runId)}</b> · ${esc(d.dataset.kind)} · generated ${esc(d.generatedAt)}</div>${banner}${imported}
<div class="kv">${Object.entries(d.dataset.counts).map(([k, v]) => `<div>${esc(k)}<br><b>${int(v)}</b></div>`).join('')}</div>
<h2>CTR results (the paper's Table 2 for this run)</h2>${table2(d)}${aucBars(d)}
<h2>AUC by segment</h2>${buckets('Users by training interactions', d.userBuckets)}${buckets('Items by training interactions', d.itemBuckets)}
<h2>Knowledge generation</h2>${counts('Construction outcomes (Algorithm 1)', d.outcomes.construct)}${counts('Refinement outcomes', d.outcomes.refine)}
${models.length ? `<h2>Models</h2><p>Which model answered each role, and the adapter refine asked per fine-tuned job.</p><table><tr><th>role / job</th><th>model</th></tr>${modelRows}</table>` : ''}
<h2>LLM cost</h2><p>${int(t.calls)} requests sent, ${int(t.cacheHits)} cache hits, ${int(t.promptTokens)} prompt + ${int(t.completionTokens)} completion tokens${money ? `, <b>${esc(formatUsd(money.usd))}</b> spent at the configured prices${money.unpriced.length ? ` (no price for ${esc(money.unpriced.join(', '))}: its tokens are not counted)` : ''}` : ''}.</p>
${usage ? `<table><tr><th>stage</th><th>role</th><th>calls</th><th>cache hits</th><th>prompt tokens</th><th>completion tokens</th>${money ? '<th>USD</th>' : ''}</tr>${usage}</table>` : ''}
${latency ? `<h3>Per-entity LLM latency</h3><table><tr><th>stage</th><th>entities</th><th>p50</th><th>p90</th><th>p99</th></tr>${latency}</table>` : ''}
<h2>Wall time per stage</h2><table><tr><th>stage</th><th>status</th><th>wall time</th></tr>${stageRows}</table>
</body></html>`;
}
