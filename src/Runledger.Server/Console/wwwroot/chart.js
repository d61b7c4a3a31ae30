// A line chart drawn as SVG: several series, hover values, drag to zoom (double-click or Escape resets),
// keyboard: arrows move the cursor, + and - zoom around it. A zoomed window is asked of the server
// again (options.fetchWindow), down-sampled to that window, so zooming in shows the real detail.
import { h } from './app.js';

const W = 600, H = 260, M = { l: 56, r: 12, t: 10, b: 28 };

function niceTicks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const step0 = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map(f => f * mag).find(s => s >= step0) || step0;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  return (+v.toPrecision(4)).toLocaleString('en-US');
}

function fmtX(v, axis) {
  return axis === 'time' ? new Date(v).toISOString().slice(11, 19) : fmt(v);
}

function nearest(points, x) {
  let lo = 0, hi = points.length - 1;
  if (hi < 0) return null;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] < x) lo = mid; else hi = mid;
  }
  return Math.abs(points[lo][0] - x) <= Math.abs(points[hi][0] - x) ? points[lo] : points[hi];
}

/**
 * series: [{ label, color, points: [[x, y], …] sorted by x, total }]; axis: 'step' | 'time'.
 * options.fetchWindow(x0, x1) → Promise of [{ label, points, inWindow }]: the series down-sampled to that window.
 */
export function lineChart(title, base, axis, options = {}) {
  const all = base.flatMap(s => s.points);
  const full = [Math.min(...all.map(p => p[0])), Math.max(...all.map(p => p[0]))];
  let domain = [...full];
  let series = base;
  let request = 0;
  let cursorX = null;
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${series.length} series over ${axis}` });
  const tooltip = h('div', { class: 'tooltip', hidden: true });
  const wrap = h('figure', { class: 'chart panel', tabindex: 0, 'data-metric': title, 'aria-label': `Chart of ${title}. Arrow keys move the cursor, plus and minus zoom, Escape resets.` },
    h('h3', {}, title),
    svg,
    tooltip,
    h('figcaption', { class: 'legend' }));
  const legend = wrap.querySelector('figcaption');

  function caption() {
    const zoomed = domain[0] > full[0] || domain[1] < full[1];
    legend.replaceChildren(...series.map(s => {
      const shown = s.inWindow ?? s.total;
      const parts = [`${s.total.toLocaleString('en-US')} points`];
      if (zoomed && s.inWindow !== undefined) parts.push(`${shown.toLocaleString('en-US')} in view`);
      if (shown > s.points.length || (zoomed && s.inWindow !== undefined)) parts.push(`${Math.min(s.points.length, shown).toLocaleString('en-US')} drawn`);
      return h('span', {}, h('span', { class: `swatch ${s.color}` }), `${s.label} (${parts.join(', ')})`);
    }));
    wrap.dataset.x0 = String(domain[0]);
    wrap.dataset.x1 = String(domain[1]);
    wrap.dataset.zoomed = zoomed ? 'true' : 'false';
  }

  /** After a zoom: draw at once from what is here, then from the server's down-sampling of the window. */
  function zoomed() {
    const mine = ++request;
    wrap.dataset.loading = 'false';
    if (domain[0] <= full[0] && domain[1] >= full[1]) {
      series = base;
      draw();
      return;
    }
    series = base.map(s => ({ ...s, inWindow: undefined }));
    draw();
    if (!options.fetchWindow) return;
    wrap.dataset.loading = 'true';
    options.fetchWindow(domain[0], domain[1]).then(fresh => {
      if (mine !== request) return;
      const byLabel = new Map(fresh.map(s => [s.label, s]));
      series = base.map(s => byLabel.has(s.label) ? { ...s, points: byLabel.get(s.label).points, inWindow: byLabel.get(s.label).inWindow } : s);
      wrap.dataset.loading = 'false';
      draw();
    }, () => { if (mine === request) wrap.dataset.loading = 'error'; });
  }

  function draw() {
    const [x0, x1] = domain[0] === domain[1] ? [domain[0] - 1, domain[1] + 1] : domain;
    const visible = series.map(s => s.points.filter(p => p[0] >= x0 && p[0] <= x1));
    const ys = visible.flat().map(p => p[1]);
    let y0 = ys.length ? Math.min(...ys) : 0, y1 = ys.length ? Math.max(...ys) : 1;
    if (y0 === y1) { y0 -= 1; y1 += 1; }
    const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    const sx = x => M.l + (x - x0) / (x1 - x0) * (W - M.l - M.r);
    const sy = y => H - M.b - (y - y0) / (y1 - y0) * (H - M.t - M.b);
    const nodes = [];
    for (const t of niceTicks(y0, y1)) {
      nodes.push(h('svg:line', { class: 'grid-line', x1: M.l, x2: W - M.r, y1: sy(t), y2: sy(t) }));
      nodes.push(h('svg:g', { class: 'axis' }, h('svg:text', { x: M.l - 6, y: sy(t) + 4, 'text-anchor': 'end' }, fmt(t))));
    }
    for (const t of niceTicks(x0, x1, 6)) {
      nodes.push(h('svg:g', { class: 'axis' }, h('svg:text', { x: sx(t), y: H - 8, 'text-anchor': 'middle' }, fmtX(t, axis))));
    }
    nodes.push(h('svg:g', { class: 'axis' }, h('svg:line', { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b })));
    series.forEach((s, i) => {
      // Keep one point either side of the window so lines run to the edges when zoomed.
      const pts = s.points;
      let a = pts.findIndex(p => p[0] >= x0); if (a < 0) a = pts.length; a = Math.max(0, a - 1);
      let b = pts.findIndex(p => p[0] > x1); if (b < 0) b = pts.length - 1;
      const drawn = pts.slice(a, b + 1);
      const d = drawn.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)} ${sy(p[1]).toFixed(1)}`).join('');
      nodes.push(h('svg:path', { class: `series ${s.color}`, d, 'data-execution': s.label, 'data-points': drawn.length, 'clip-path': `url(#clip-${id})` }));
    });
    nodes.unshift(h('svg:defs', {}, h('svg:clipPath', { id: `clip-${id}` }, h('svg:rect', { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b }))));
    if (cursorX !== null) {
      nodes.push(h('svg:line', { class: 'cursor', x1: sx(cursorX), x2: sx(cursorX), y1: M.t, y2: H - M.b }));
      const lines = series.map(s => [s, nearest(s.points, cursorX)]).filter(([, p]) => p);
      const at = lines.length ? lines[0][1][0] : cursorX;
      tooltip.replaceChildren(h('div', {}, `${axis} ${fmtX(at, axis)}`),
        ...lines.map(([s, p]) => h('div', {}, h('span', { class: `swatch ${s.color}` }), `${s.label}: ${fmt(p[1])}`)));
      tooltip.hidden = false;
      const left = sx(cursorX) / W * svg.clientWidth;
      tooltip.style.left = `${Math.min(left + 12, Math.max(0, svg.clientWidth - 220))}px`;
      tooltip.style.top = '2.5rem';
    } else {
      tooltip.hidden = true;
    }
    if (brush) nodes.push(h('svg:rect', { class: 'brush', x: Math.min(brush[0], brush[1]), y: M.t, width: Math.abs(brush[1] - brush[0]), height: H - M.t - M.b }));
    svg.replaceChildren(...nodes);
    unscale = px => x0 + (px - M.l) / (W - M.l - M.r) * (x1 - x0);
    caption();
  }

  const id = Math.random().toString(36).slice(2);
  let unscale = () => 0;
  let brush = null;
  const toViewBox = event => {
    const r = svg.getBoundingClientRect();
    return (event.clientX - r.left) / r.width * W;
  };
  svg.addEventListener('pointermove', event => {
    const px = toViewBox(event);
    if (brush) brush[1] = px;
    cursorX = Math.min(Math.max(unscale(px), domain[0]), domain[1]);
    draw();
  });
  svg.addEventListener('pointerleave', () => { cursorX = null; brush = null; draw(); });
  svg.addEventListener('pointerdown', event => { brush = [toViewBox(event), toViewBox(event)]; });
  svg.addEventListener('pointerup', () => {
    if (brush && Math.abs(brush[1] - brush[0]) > 4) {
      const a = unscale(Math.min(...brush)), b = unscale(Math.max(...brush));
      domain = [Math.max(a, full[0]), Math.min(b, full[1])];
      brush = null;
      zoomed();
      return;
    }
    brush = null;
    draw();
  });
  svg.addEventListener('dblclick', () => { domain = [...full]; zoomed(); });
  wrap.addEventListener('keydown', event => {
    const span = domain[1] - domain[0] || 1;
    const at = cursorX ?? (domain[0] + domain[1]) / 2;
    if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
      cursorX = Math.min(Math.max(at + (event.key === 'ArrowRight' ? 1 : -1) * span / 50, domain[0]), domain[1]);
      event.preventDefault();
      draw();
      return;
    }
    if (event.key === '+' || event.key === '=') {
      domain = [Math.max(full[0], at - span / 4), Math.min(full[1], at + span / 4)];
    } else if (event.key === '-') {
      domain = [Math.max(full[0], at - span), Math.min(full[1], at + span)];
    } else if (event.key === 'Escape') {
      domain = [...full]; cursorX = null;
    } else return;
    event.preventDefault();
    zoomed();
  });
  wrap.addEventListener('blur', () => { cursorX = null; draw(); });
  queueMicrotask(draw);
  draw();
  return wrap;
}
