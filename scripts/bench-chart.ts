/**
 * npm run bench:chart — draws bench:channel's results (bench/results/channel.json)
 * as an SVG for the README: bulk throughput of every backend × suite beside
 * raw TCP, TLS 1.3, @hyperswarm/secret-stream and the bare framing loops,
 * and, when the run had them, requests per second against HTTPS.
 *
 *   RESULTS=bench/results (the folder bench:channel wrote)   CHART=docs/bench.svg
 *
 * The chart states its own provenance (date, machine, load, size, runs) and
 * says so in red when it comes from a short run (under 1 GiB or 3 runs).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

interface BulkRow {
  subject: string;
  kind: 'anchor' | 'netcrypt';
  backend: string | null;
  suite: string | null;
  runs: { MBps: number }[];
  median: { MBps: number };
  overTls: number | null;
}

interface Requests {
  perSecond: number;
}

interface ChannelResults {
  date: string;
  machine: { node: string; cpus: number; cpu: string; loadAverage: number[]; loadAverageAtEnd: number[] };
  settings: { SIZE: number; RUNS: number; PURE_SIZE: number };
  bulk: { rows: BulkRow[]; defaultSuite: string };
  requests?: { inFlight: number; runs: { netcrypt: Requests; https: Requests }[]; overHttps: number };
}

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = process.env.RESULTS ?? join(root, 'bench', 'results');
const chartPath = process.env.CHART ?? join(root, 'docs', 'bench.svg');
const results = JSON.parse(readFileSync(join(resultsDir, 'channel.json'), 'utf8')) as ChannelResults;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Colour groups: the transports and peers in greys, the bare loops lighter, netcrypt's two suites in colour. */
function series(row: BulkRow): string {
  if (row.kind === 'netcrypt') return `netcrypt ${row.suite}`;
  return row.subject.startsWith('bare') ? 'bare node:crypto loop' : 'transport / peer';
}

function label(row: BulkRow): string {
  if (row.kind === 'netcrypt') return `netcrypt ${row.backend} · ${row.suite}${row.backend === 'native' && row.suite === results.bulk.defaultSuite ? ' (default)' : ''}`;
  return row.subject;
}

const bulk = results.bulk.rows.map((row, order) => {
  const values = row.runs.map((r) => r.MBps);
  const MBps = row.median.MBps;
  return {
    order,
    label: label(row),
    series: series(row),
    MBps,
    low: Math.min(...values),
    high: Math.max(...values),
    text: `${MBps >= 100 ? MBps.toFixed(0) : MBps.toFixed(1)} MB/s${row.overTls === null ? '' : ` · ${row.overTls.toFixed(2)}× TLS`}`,
  };
});

const { SIZE, RUNS, PURE_SIZE } = results.settings;
const short = SIZE < 1 << 30 || RUNS < 3;
const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
const subtitle = [
  `${results.date.slice(0, 16).replace('T', ' ')} UTC · ${results.machine.cpus} × ${results.machine.cpu} · node ${results.machine.node} · load ${load(results.machine.loadAverage)} → ${load(results.machine.loadAverageAtEnd)}`,
  `${SIZE >> 20} MiB per row (pure: ${PURE_SIZE >> 20} MiB), median of ${RUNS} run${RUNS === 1 ? '' : 's'} (ticks: min–max), sender and receiver in separate processes, loopback`,
];
const seriesOrder = ['transport / peer', 'bare node:crypto loop', 'netcrypt a256gcm', 'netcrypt a256cbc-hs512'];
const colours = ['#8c8c8c', '#c7c7c7', '#1f77b4', '#ff7f0e'];

const bulkChart = {
  title: { text: 'Bulk throughput, one connection', subtitle, anchor: 'start', subtitleColor: '#555' },
  data: { values: bulk },
  width: 520,
  height: { step: 22 },
  encoding: {
    y: { field: 'label', type: 'nominal', sort: null, title: null, axis: { labelLimit: 400 } },
  },
  layer: [
    {
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'MBps', type: 'quantitative', title: 'MB/s (wall clock)' },
        color: { field: 'series', type: 'nominal', scale: { domain: seriesOrder, range: colours }, legend: { title: null, orient: 'bottom', labelLimit: 300 } },
      },
    },
    { mark: { type: 'rule', color: '#333' }, encoding: { x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } } },
    { mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 }, encoding: { x: { field: 'high', type: 'quantitative' }, text: { field: 'text' } } },
  ],
};

const charts: unknown[] = [bulkChart];
if (results.requests) {
  const { runs, inFlight, overHttps } = results.requests;
  const requestRows = [
    { label: 'netcrypt native · channel.request()', perSecond: median(runs.map((r) => r.netcrypt.perSecond)), series: 'netcrypt' },
    { label: 'HTTPS · undici → node:https, TLS 1.3', perSecond: median(runs.map((r) => r.https.perSecond)), series: 'HTTPS' },
  ].map((row) => ({ ...row, text: `${row.perSecond.toFixed(0)}/s` }));
  charts.push({
    title: { text: `Requests per second: 1 KiB request, 1 KiB reply, ${inFlight} in flight on one connection (netcrypt / HTTPS: ${overHttps.toFixed(2)})`, anchor: 'start', fontSize: 12 },
    data: { values: requestRows },
    width: 520,
    height: { step: 22 },
    encoding: { y: { field: 'label', type: 'nominal', sort: null, title: null, axis: { labelLimit: 400 } } },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'perSecond', type: 'quantitative', title: 'requests/s' },
          color: { field: 'series', type: 'nominal', scale: { domain: ['netcrypt', 'HTTPS'], range: ['#1f77b4', '#8c8c8c'] }, legend: null },
        },
      },
      { mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 }, encoding: { x: { field: 'perSecond', type: 'quantitative' }, text: { field: 'text' } } },
    ],
  });
}

const spec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  ...(short
    ? { title: { text: 'PLACEHOLDER — a short run, not for publication (npm run bench on a quiet machine replaces it)', color: '#c00', fontSize: 12, anchor: 'start' } }
    : {}),
  vconcat: charts,
  spacing: 28,
  resolve: { scale: { x: 'independent', y: 'independent', color: 'independent' }, legend: { color: 'independent' } },
  config: { font: 'sans-serif', view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 11 } },
} as TopLevelSpec;

const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
writeFileSync(chartPath, await view.toSVG());
view.finalize();
console.log(`wrote ${chartPath} from ${join(resultsDir, 'channel.json')}${short ? ' (a short run: the chart says it is a placeholder)' : ''}`);
