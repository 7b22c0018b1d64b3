// lightning-xai dashboard: the XAI tab of TensorBoard and, with its data embedded, the
// static report. Plain ES module, no build step. Views: grid (samples x methods or layers
// at one epoch), compare (epoch A beside epoch B), filmstrip (one picture over all epochs),
// scalars (every xai/ scalar on an epoch axis). Pictures come as base64 PNGs, a batch per
// request, decoded once into Image objects and cached, so an epoch change swaps elements.

const EMBEDDED = document.getElementById('xai-data');
const S = {zoom: 1, view: 'grid', pos: 0, gen: 0, redraws: 0, playing: null, cells: []};
const cache = new Map(); // run \n tag \n step -> Promise<HTMLImageElement>
const ready = new Map(); // the same keys -> decoded HTMLImageElement
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf'];

class ServerSource {
  async json(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }
  runs() { return this.json('./runs').then((body) => body.runs); }
  index(run) { return this.json('./index?' + new URLSearchParams({run})); }
  images(run, tags, steps) {
    const query = new URLSearchParams({run});
    tags.forEach((t) => query.append('tag', t));
    (steps || []).forEach((s) => query.append('step', s));
    return this.json('./images?' + query);
  }
}

class EmbeddedSource {
  constructor(data) { this.data = data; }
  async runs() { return this.data.runs; }
  async index(run) { return this.data.index[run]; }
  async images(run, tags, steps) {
    const out = {};
    for (const tag of tags) {
      const all = this.data.images[run][tag] || {};
      out[tag] = steps ? Object.fromEntries(steps.filter((s) => s in all).map((s) => [s, all[s]]))
        : all;
    }
    return out;
  }
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...[].concat(children).filter((c) => c != null));
  return node;
}

const $ = (id) => document.getElementById(id);
const key = (tag, step) => `${S.run}\n${tag}\n${step}`;
const stepsOf = (tag) => S.tagSteps[tag] || [];
const epochOf = (step) => S.index.epoch_of[step] ?? S.index.epochs[S.index.steps.indexOf(step)] ?? step;
const epochText = (step) => `epoch ${epochOf(step)} · step ${step}`;
const grid = () => S.index.grids.find((g) => g.name === S.grid) || S.index.grids[0];
const rowKey = (row) => (row === null ? '-' : String(row));
const rowText = (row) => (row === null ? 'all' : `#${row}`);

function decode(b64) {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  return img.decode().then(() => img, () => img);
}

// Fetches (one request) and decodes the pictures of `tags` at `steps` (null: every step).
function load(tags, steps) {
  const want = [];
  for (const tag of tags) {
    for (const step of steps ? steps.filter((s) => stepsOf(tag).includes(s)) : stepsOf(tag)) {
      if (!cache.has(key(tag, step))) want.push([tag, step]);
    }
  }
  if (want.length) {
    const run = S.run;
    const batch = S.source.images(run, [...new Set(want.map((w) => w[0]))],
      steps ? [...new Set(want.map((w) => w[1]))] : null);
    for (const [tag, step] of want) {
      const k = `${run}\n${tag}\n${step}`;
      cache.set(k, batch.then((b) => decode(b[tag][step])).then((img) => {
        ready.set(k, img);
        return img;
      }));
    }
  }
  return Promise.all(tags.flatMap((t) => (steps || stepsOf(t)).map((s) => cache.get(key(t, s)))));
}

function picture(tag, step) {
  const img = ready.get(key(tag, step));
  if (!img) return el('span', {class: 'note', text: stepsOf(tag).includes(step) ? 'loading…' : 'not logged'});
  const shown = img.isConnected ? img.cloneNode() : img;
  shown.style.width = `${img.naturalWidth * S.zoom}px`;
  shown.title = `${tag} · ${epochText(step)}`;
  return shown;
}

function select(id, options, value, onchange) {
  return el('select', {id, onchange: (e) => onchange(e.target.value)},
    options.map(([v, text]) => {
      const option = el('option', {value: v, text});
      option.selected = String(v) === String(value);
      return option;
    }));
}

const stepOptions = () => S.index.steps.map((s) => [s, epochText(s)]);

// ---- the page --------------------------------------------------------------------------

export async function render() {
  S.source = EMBEDDED ? new EmbeddedSource(JSON.parse(EMBEDDED.textContent)) : new ServerSource();
  if (!EMBEDDED) document.head.append(el('link', {rel: 'stylesheet', href: './dashboard.css'}));
  document.body.append(el('div', {id: 'xai'}, [
    el('header', {}, [
      el('b', {text: 'lightning-xai'}), el('label', {text: 'run '}, el('span', {id: 'run-slot'})),
      el('nav', {}, ['grid', 'compare', 'filmstrip', 'scalars'].map((v) =>
        el('button', {'data-view': v, text: v, onclick: () => setView(v)}))),
      el('label', {text: 'zoom '}, select('zoom', [[1, '1x'], [2, '2x'], [3, '3x'], [4, '4x']], 1,
        (z) => { S.zoom = +z; draw(); })),
      EMBEDDED ? null : el('button', {id: 'reload', text: 'reload', title: 'read new epochs',
        onclick: () => openRun(S.run)}),
    ]),
    el('div', {id: 'status'}), el('div', {id: 'controls'}), el('main', {id: 'view'}),
  ]));
  document.addEventListener('keydown', (e) => {  // arrow keys step the epoch control
    const button = {ArrowLeft: 'epoch-prev', ArrowRight: 'epoch-next'}[e.key];
    if (button && $(button) && !['SELECT', 'INPUT'].includes(e.target.tagName)) $(button).click();
  });
  try {
    S.runs = await S.source.runs();
    if (!S.runs.length) throw new Error('no run under this log directory has xai/ data yet');
    $('run-slot').replaceChildren(select('run', S.runs.map((r) => [r, r]), S.runs[0], openRun));
    await openRun(S.runs[0]);
  } catch (err) {
    $('status').textContent = String(err.message || err);
  }
}

async function openRun(run) {
  S.run = run;
  S.index = await S.source.index(run);
  S.tagSteps = Object.assign({}, ...S.index.grids.map((g) => g.steps));
  S.pos = S.index.steps.length - 1;
  // A reload, or another run with the same pictures, keeps what was chosen.
  const kept = S.index.grids.find((g) => g.name === S.grid);
  const first = kept || S.index.grids[0] || {name: null, rows: [null], columns: []};
  S.grid = first.name;
  if (!first.rows.includes(S.sample)) S.sample = first.rows[0];
  if (!first.columns.includes(S.column)) S.column = first.columns[0];
  S.a = S.index.steps[0];
  S.b = S.index.steps[S.index.steps.length - 1];
  $('status').textContent = `${run}: ${S.index.steps.length} logged epochs, every one shown`;
  setView(S.view);
}

function setView(view) {
  S.view = view;
  const names = S.index.grids.map((g) => g.name);
  if (view !== 'grid' && S.grid === 'panels' && names.includes('attributions')) S.grid = 'attributions';
  stop();
  document.querySelectorAll('nav button').forEach((b) => b.classList.toggle('on', b.dataset.view === view));
  draw();
}

function draw() {
  S.gen++;
  ({grid: drawGrid, compare: drawCompare, filmstrip: drawFilmstrip, scalars: drawScalars})[S.view]();
}

function gridSelect(onchange) {
  return el('label', {text: 'pictures '}, select('grid-select',
    S.index.grids.map((g) => [g.name, `${g.name} (${g.columns.length})`]), S.grid, (g) => {
      S.grid = g;
      const chosen = grid();
      if (!chosen.rows.includes(S.sample)) S.sample = chosen.rows[0];
      if (!chosen.columns.includes(S.column)) S.column = chosen.columns[0];
      onchange();
    }));
}

// ---- epoch control ---------------------------------------------------------------------

function epochControl(onchange) {
  const n = S.index.steps.length;
  const go = (pos) => { S.pos = (pos + n) % n; $('epoch').value = S.pos; onchange(); };
  return el('span', {class: 'epochs'}, [
    el('button', {id: 'epoch-prev', text: '◀', title: 'previous epoch', onclick: () => go(S.pos - 1)}),
    el('input', {id: 'epoch', type: 'range', min: 0, max: n - 1, value: S.pos,
      oninput: (e) => go(+e.target.value)}),
    el('button', {id: 'epoch-next', text: '▶', title: 'next epoch', onclick: () => go(S.pos + 1)}),
    el('button', {id: 'play', text: 'play', onclick: (e) => {
      if (S.playing) return stop();
      e.target.textContent = 'pause';
      S.playing = setInterval(() => go(S.pos + 1), 600);
    }}),
    el('span', {id: 'epoch-label'}),
  ]);
}

function stop() {
  clearInterval(S.playing);
  S.playing = null;
  if ($('play')) $('play').textContent = 'play';
}

function epochLabel() {
  const step = S.index.steps[S.pos];
  $('epoch-label').textContent = `${epochText(step)} (${S.pos + 1} of ${S.index.steps.length})`;
}

// ---- grid ------------------------------------------------------------------------------

function drawGrid() {
  $('controls').replaceChildren(gridSelect(draw), epochControl(updateGrid));
  const g = grid();
  S.cells = [];
  if (!g) return $('view').replaceChildren(el('p', {text: 'No pictures in this run.'}));
  const rows = g.rows.map((row) => el('tr', {}, [el('th', {text: rowText(row)}),
    ...g.columns.map((col) => {
      const tag = g.cells[rowKey(row)][col];
      const td = el('td', {'data-tag': tag || '', 'data-column': col, 'data-row': rowKey(row)});
      if (tag) S.cells.push({td, tag});
      return td;
    })]));
  $('view').replaceChildren(el('table', {id: 'grid', class: 'pictures'}, [
    el('thead', {}, el('tr', {}, [el('th', {text: 'sample'}), ...g.columns.map((c) => el('th', {text: c}))])),
    el('tbody', {}, rows),
  ]));
  updateGrid();
}

async function updateGrid() {
  const start = performance.now();
  const gen = S.gen;
  const step = S.index.steps[S.pos];
  epochLabel();
  const tags = S.cells.map((c) => c.tag);
  await load(tags, [step]);
  if (gen !== S.gen || step !== S.index.steps[S.pos]) return;
  for (const {td, tag} of S.cells) td.replaceChildren(picture(tag, step));
  // Two animation frames later the new pictures are on screen: that is the redraw time.
  requestAnimationFrame(() => requestAnimationFrame(() => {
    window.xaiRedrawMs = performance.now() - start;
    document.body.dataset.redraws = ++S.redraws;
    document.body.dataset.ready = '1';
  }));
  // Then every other epoch of these cells, nearest first, so that moving the slider is a swap.
  const order = S.index.steps.map((s, i) => [Math.abs(i - S.pos), s]).sort((x, y) => x[0] - y[0]);
  for (const [, s] of order) {
    if (gen !== S.gen) return;
    await load(tags, [s]);
  }
  document.body.dataset.preloaded = gen;
}

// ---- compare ---------------------------------------------------------------------------

function sampleSelect(onchange) {
  const g = grid();
  return el('label', {text: 'sample '}, select('sample', g.rows.map((r) => [rowKey(r), rowText(r)]),
    rowKey(S.sample), (v) => { S.sample = v === '-' ? null : +v; onchange(); }));
}

function drawCompare() {
  if (!grid()) return;
  $('controls').replaceChildren(gridSelect(draw), sampleSelect(draw),
    el('label', {text: 'A '}, select('epoch-a', stepOptions(), S.a, (v) => { S.a = +v; draw(); })),
    el('label', {text: 'B '}, select('epoch-b', stepOptions(), S.b, (v) => { S.b = +v; draw(); })));
  const g = grid();
  const cells = g.cells[rowKey(S.sample)] || {};
  const columns = g.columns.filter((c) => cells[c]);
  const body = columns.map((col) => el('tr', {}, [el('th', {text: col}),
    ...[S.a, S.b].map((s) => el('td', {'data-step': s})), el('td', {class: 'diff'}),
    el('td', {class: 'drift'}, driftText(col))]));
  $('view').replaceChildren(el('table', {id: 'compare', class: 'pictures'}, [
    el('thead', {}, el('tr', {}, ['', `A: ${epochText(S.a)}`, `B: ${epochText(S.b)}`,
      '|A − B| (pictures, ×4)', 'drift (logged)'].map((t) => el('th', {text: t})))),
    el('tbody', {}, body)]));
  const gen = S.gen;
  load(columns.map((c) => cells[c]), [S.a, S.b]).then(() => {
    if (gen !== S.gen) return;
    columns.forEach((col, i) => {
      const [a, b, diff] = body[i].querySelectorAll('td');
      a.replaceChildren(picture(cells[col], S.a));
      b.replaceChildren(picture(cells[col], S.b));
      diff.replaceChildren(difference(ready.get(key(cells[col], S.a)), ready.get(key(cells[col], S.b))) || '');
    });
    document.body.dataset.compared = ++S.redraws;
  });
}

function driftText(column) {
  const metrics = S.index.drift[column];
  if (!metrics) return el('span', {class: 'note', text: 'no drift metric logged'});
  return Object.entries(metrics).map(([name, byStep]) => el('div', {text:
    `${name.replace('drift_', '')}: A ${fmt(byStep[S.a])} · B ${fmt(byStep[S.b])}`}));
}

const fmt = (v) => (v === undefined ? '–' : Number(v).toPrecision(3));

function difference(a, b) {
  if (!a || !b || a.naturalWidth !== b.naturalWidth || a.naturalHeight !== b.naturalHeight) return null;
  const [w, h] = [a.naturalWidth, a.naturalHeight];
  const pixels = [a, b].map((img) => {
    const c = el('canvas', {width: w, height: h}).getContext('2d');
    c.drawImage(img, 0, 0);
    return c.getImageData(0, 0, w, h).data;
  });
  const canvas = el('canvas', {width: w, height: h});
  const out = canvas.getContext('2d').createImageData(w, h);
  for (let i = 0; i < out.data.length; i += 4) {
    const d = (Math.abs(pixels[0][i] - pixels[1][i]) + Math.abs(pixels[0][i + 1] - pixels[1][i + 1]) +
      Math.abs(pixels[0][i + 2] - pixels[1][i + 2])) / 3;
    out.data[i] = out.data[i + 1] = out.data[i + 2] = 255 - Math.min(255, 4 * d);
    out.data[i + 3] = 255;
  }
  canvas.getContext('2d').putImageData(out, 0, 0);
  canvas.style.width = `${w * S.zoom}px`;
  return canvas;
}

// ---- filmstrip -------------------------------------------------------------------------

function drawFilmstrip() {
  if (!grid()) return;
  const g = grid();
  $('controls').replaceChildren(gridSelect(draw), sampleSelect(draw), el('label', {text: 'picture '},
    select('column', g.columns.map((c) => [c, c]), S.column, (c) => { S.column = c; draw(); })));
  const tag = (g.cells[rowKey(S.sample)] || {})[S.column];
  const frames = stepsOf(tag).map((s) => el('figure', {'data-step': s}, [el('div'),
    el('figcaption', {text: epochText(s)})]));
  $('view').replaceChildren(el('div', {id: 'filmstrip'}, frames));
  const gen = S.gen;
  if (tag) load([tag], null).then(() => {
    if (gen !== S.gen) return;
    frames.forEach((f) => f.firstChild.replaceChildren(picture(tag, +f.dataset.step)));
    document.body.dataset.filmed = ++S.redraws;
  });
}

// ---- scalars ---------------------------------------------------------------------------

function drawScalars() {
  $('controls').replaceChildren(epochControl(markEpoch));
  const sections = [];
  for (const chart of S.index.charts) {
    if (!sections.length || sections[sections.length - 1].name !== chart.section) {
      sections.push({name: chart.section, charts: []});
    }
    sections[sections.length - 1].charts.push(chart);
  }
  $('view').replaceChildren(...(sections.length ? sections.map((s) => el('section', {}, [
    el('h3', {text: s.name}), el('div', {class: 'charts'}, s.charts.map(lineChart))]))
    : [el('p', {text: 'No xai/ scalars in this run.'})]));
  markEpoch();
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function lineChart(chart) {
  const [W, H, L, R, T, B] = [380, 200, 56, 12, 10, 30];
  const points = chart.series.flatMap((s) => s.points.map(([step, v]) => [epochOf(step), v]));
  const range = (values) => {
    let [lo, hi] = [Math.min(...values), Math.max(...values)];
    if (lo === hi) [lo, hi] = [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1];
    return [lo, hi];
  };
  const [x0, x1] = range(points.map((p) => p[0]));
  const [y0, y1] = range(points.map((p) => p[1]));
  const x = (v) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const y = (v) => H - B - ((v - y0) / (y1 - y0)) * (H - T - B);
  const plot = svg('svg', {width: W, height: H, class: 'chart', 'data-title': chart.title});
  plot.append(svg('rect', {x: L, y: T, width: W - L - R, height: H - T - B, class: 'frame'}));
  for (let i = 0; i <= 3; i++) {
    const v = y0 + ((y1 - y0) * i) / 3;
    plot.append(svg('text', {x: L - 4, y: y(v) + 4, class: 'tick', 'text-anchor': 'end'}, fmt(v)));
  }
  const epochs = [...new Set(points.map((p) => p[0]))].sort((a, b) => a - b);
  const every = Math.ceil(epochs.length / 8);
  epochs.filter((_, i) => i % every === 0).forEach((e) => plot.append(
    svg('text', {x: x(e), y: H - B + 14, class: 'tick', 'text-anchor': 'middle'}, String(e))));
  plot.append(svg('text', {x: (L + W - R) / 2, y: H - 2, class: 'axis', 'text-anchor': 'middle'}, 'epoch'));
  plot.append(svg('line', {class: 'marker', y1: T, y2: H - B, 'data-x0': x0, 'data-x1': x1}));
  chart.series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const xy = s.points.map(([step, v]) => [x(epochOf(step)), y(v), step, v]);
    plot.append(svg('polyline', {points: xy.map((p) => `${p[0]},${p[1]}`).join(' '), stroke: colour}));
    for (const [px, py, step, v] of xy) {
      const dot = svg('circle', {cx: px, cy: py, r: 2.5, fill: colour});
      dot.append(svg('title', {}, `${s.name}: ${fmt(v)} at ${epochText(step)}`));
      plot.append(dot);
    }
  });
  plot.dataset.x = JSON.stringify([L, W - R]);
  return el('figure', {class: 'card'}, [el('figcaption', {text: chart.title}), plot,
    el('div', {class: 'legend'}, chart.series.map((s, i) => el('span', {}, [
      el('i', {style: `background:${PALETTE[i % PALETTE.length]}`}), s.name])))]);
}

function markEpoch() {
  epochLabel();
  const epoch = epochOf(S.index.steps[S.pos]);
  document.querySelectorAll('svg.chart').forEach((plot) => {
    const line = plot.querySelector('.marker');
    const [left, right] = JSON.parse(plot.dataset.x);
    const [x0, x1] = [+line.dataset.x0, +line.dataset.x1];
    const px = left + ((epoch - x0) / (x1 - x0)) * (right - left);
    line.setAttribute('x1', px);
    line.setAttribute('x2', px);
  });
}

if (EMBEDDED) render();
