'use strict';
// usher reference ticket site: vanilla JS single-page app, hash routes #/ #/events/{id} #/me.
(() => {
const STR = {
  en: {
    brand: 'Tickets', events: 'Events', me: 'My bookings', loading: 'Loading…',
    search: 'Search events', searchPh: 'e.g. KTX, Dongdaegu', go: 'Search',
    found: '{n} events', found1: '1 event', none: 'No events found.', prev: '← Previous', next: 'Next →', page: 'Page {p} of {n}', pages: 'Pages',
    train: 'Train', concert: 'Concert', coupon: 'Coupon',
    left: '{n} left', soldOut: 'Sold out', closed: 'Booking closed', free: 'Free', each: '{p} each',
    back: '← All events', car: 'Car {c}', carFree: '{n} free', stage: 'Stage',
    trainSeat: 'Car {c}, seat {s}', seat: 'Seat {s}', taken: 'taken',
    lFree: 'Free', lSel: 'Selected', lTaken: 'Taken',
    pick: 'Choose up to 10 seats', picked: '{n} selected · {p}', max: 'You can choose up to 10 seats.',
    qty: 'Quantity (1–10)', qtyErr: 'Enter a quantity from 1 to 10.',
    book: 'Book', booking: 'Booking…', booked: 'Booked! Booking #{id}: {what}.', seeMine: 'See my bookings',
    sold_out: 'Sold out — not enough left. The counts are updated.',
    seat_taken: 'Someone just took {s}. The seat map is updated — please choose again.',
    started: 'This event has started; it can no longer be booked.',
    net: 'Could not reach the site. Nothing is lost — please try again.', retry: 'Try again',
    err: 'Something went wrong ({c}).', noEvent: 'No such event.',
    noBookings: 'No bookings yet.', nBookings: '{n} bookings', nBookings1: '1 booking', ev: 'Event #{id}', qtyN: '× {n}',
    confirmed: 'Confirmed', cancelled: 'Cancelled', bookedAt: 'Booked {t}',
    cancel: 'Cancel', sure: 'Tap again to cancel', cancelDone: 'Booking #{id} is cancelled.',
    cancelStarted: 'The event has started; it can no longer be cancelled.', noCancel: 'Started — can no longer be cancelled',
    ended: 'Your session ended — reload to get back in line.', reload: 'Reload',
    busy: 'The site is busy; you keep your place — reloading…', tz: ' KST'
  },
  ko: {
    brand: '티켓 예매', events: '이벤트', me: '내 예매', loading: '불러오는 중…',
    search: '이벤트 검색', searchPh: '예: KTX', go: '검색',
    found: '{n}건', found1: '1건', none: '검색 결과가 없습니다.', prev: '← 이전', next: '다음 →', page: '{p} / {n} 페이지', pages: '페이지',
    train: '열차', concert: '공연', coupon: '쿠폰',
    left: '잔여 {n}', soldOut: '매진', closed: '예매 마감', free: '무료', each: '1매 {p}',
    back: '← 전체 이벤트', car: '{c}호차', carFree: '잔여 {n}석', stage: '무대',
    trainSeat: '{c}호차 {s}', seat: '{s} 좌석', taken: '예매됨',
    lFree: '선택 가능', lSel: '선택함', lTaken: '예매됨',
    pick: '최대 10석까지 선택하세요', picked: '{n}석 · {p}', max: '최대 10석까지 선택할 수 있습니다.',
    qty: '수량 (1–10)', qtyErr: '수량은 1에서 10 사이로 입력하세요.',
    book: '예매하기', booking: '예매 중…', booked: '예매 완료! 예매번호 #{id}: {what}', seeMine: '내 예매 보기',
    sold_out: '매진되어 남은 수량이 부족합니다. 잔여 수량을 새로 고쳤습니다.',
    seat_taken: '{s} 좌석이 방금 예매되었습니다. 좌석 배치도를 새로 고쳤으니 다시 선택해 주세요.',
    started: '이미 시작된 이벤트라 예매할 수 없습니다.',
    net: '연결이 원활하지 않습니다. 선택은 그대로이니 다시 시도해 주세요.', retry: '다시 시도',
    err: '문제가 발생했습니다 ({c}).', noEvent: '이벤트를 찾을 수 없습니다.',
    noBookings: '예매 내역이 없습니다.', nBookings: '{n}건', nBookings1: '1건', ev: '이벤트 #{id}', qtyN: '{n}매',
    confirmed: '예매 완료', cancelled: '취소됨', bookedAt: '예매일시 {t}',
    cancel: '예매 취소', sure: '한 번 더 누르면 취소됩니다', cancelDone: '예매 #{id}이(가) 취소되었습니다.',
    cancelStarted: '이벤트가 시작되어 더 이상 취소할 수 없습니다.', noCancel: '시작됨 — 취소 불가',
    ended: '세션이 만료되었습니다. 새로고침하면 다시 대기열에 들어갑니다.', reload: '새로고침',
    busy: '접속자가 많습니다. 대기 순서는 그대로 유지됩니다 — 곧 새로고침합니다…', tz: ''
  }
};
const KO = /^ko/i.test(navigator.language || '');
const T = STR[KO ? 'ko' : 'en'];
const t = (k, v = {}) => T[k].replace(/\{(\w+)\}/g, (_, x) => v[x]);
const NF = new Intl.NumberFormat(KO ? 'ko-KR' : 'en-US');
const num = n => NF.format(n);
const won = n => n ? (KO ? num(n) + '원' : '₩' + num(n)) : T.free;
const LOC = navigator.language || 'en';
const DT = y => new Intl.DateTimeFormat(LOC, { timeZone: 'Asia/Seoul', year: y ? 'numeric' : undefined, month: 'short', day: 'numeric', weekday: 'short', hour: 'numeric', minute: '2-digit' });
const DT0 = DT(0), DT1 = DT(1);
const yr = ms => new Date(ms + 324e5).getUTCFullYear();
const when = s => (yr(s * 1e3) === yr(Date.now()) ? DT0 : DT1).format(s * 1e3) + T.tz;
const PER = 10, RET = 'usher-app-return';
const HALT = new Error('halt');
const main = document.getElementById('main');
const sleep = ms => new Promise(r => setTimeout(r, ms));
let gen = 0, halted = false, first = true, pending = null;
const events = new Map(); // id → event (for titles in my bookings)

function h(tag, a, ...kids) {
  const e = document.createElement(tag);
  for (const k in a) {
    const v = a[k];
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  e.append(...kids.flat(9).filter(x => x != null && x !== false));
  return e;
}
const say = (el, kids, cls = '') => { el.className = 'msg ' + cls; el.replaceChildren(...[kids].flat()); };
const titled = x => { document.title = x ? x + ' · ' + T.brand : T.brand; };
function view(...kids) {
  main.replaceChildren(...kids);
  titled(main.querySelector('h1')?.textContent);
  if (!first) { scrollTo(0, 0); main.querySelector('h1')?.focus(); }
  first = false;
}
function stop(text, secs) { // 401 (no secs) or the waiting room (reload in secs)
  if (halted) return;
  halted = true;
  const b = h('button', { class: 'btn', onclick: () => location.reload() }, T.reload);
  main.replaceChildren(h('div', { class: secs ? 'msg' : 'msg err', role: 'alert' }, h('p', {}, text), b));
  b.focus();
  if (secs) { try { sessionStorage.setItem(RET, location.hash); } catch (_) {} setTimeout(() => location.reload(), secs * 1e3); }
}

// Every API call: JSON in/out, 401 → session over, proxy 503 → waiting room.
async function api(path, opt = {}) {
  if (halted) throw HALT;
  const headers = { Accept: 'application/json', ...opt.headers };
  if (opt.body) headers['Content-Type'] = 'application/json';
  const ac = new AbortController(), tm = setTimeout(() => ac.abort(), 2e4);
  let r, body = null;
  try {
    r = await fetch(path, { ...opt, headers, credentials: 'same-origin', cache: 'no-store', signal: ac.signal });
    if ((r.headers.get('Content-Type') || '').includes('json')) body = await r.json().catch(() => null);
  } finally { clearTimeout(tm); }
  if (r.status === 401) { stop(T.ended); throw HALT; }
  // The backend's own 503 carries {"error"}; the waiting room's does not (or is a page).
  if ((r.status === 503 && !body?.error) || (r.ok && !body)) {
    const s = parseInt(r.headers.get('Retry-After'), 10);
    stop(T.busy, Math.min(Math.max(s || 5, 1), 120));
    throw HALT;
  }
  return { status: r.status, body: body || {}, retry: parseInt(r.headers.get('Retry-After'), 10) || 0 };
}
// Writes: retry network errors and the backend's 503 up to 3 times with backoff (or the
// 503's Retry-After, up to 10 s).
async function send(path, opt) {
  for (let i = 0; ; i++) {
    let r;
    try { r = await api(path, opt); if (r.status !== 503) return r; } catch (e) { if (e === HALT) throw e; }
    if (i >= 3) return r || null;
    await sleep(Math.max(500 * 2 ** i, Math.min(r?.retry || 0, 10) * 1e3) + Math.random() * 300);
  }
}
const errText = r => r ? t('err', { c: r.body.error?.message || r.status }) : T.net;
function failed(e, g, el, again) {
  if (e === HALT || g !== gen) return;
  say(el, [T.net, ' ', h('button', { class: 'btn sec', onclick: again }, T.retry)], 'err');
}
const getEvent = async id => {
  const r = await api('/api/events/' + id);
  if (r.status === 200) events.set(id, r.body);
  return r;
};

function kindTag(ev) { return h('span', { class: 'tag k-' + ev.kind }, T[ev.kind] || ev.kind); }
function avail(ev) {
  return ev.bookable ? h('span', { class: 'tag good' }, t('left', { n: num(ev.remaining) }))
    : h('span', { class: 'tag bad' }, ev.remaining > 0 ? T.closed : T.soldOut);
}

// #/?q=&page=
async function viewList(p) {
  const g = gen, q = p.get('q') || '', page = Math.max(1, parseInt(p.get('page'), 10) || 1);
  const input = h('input', { type: 'search', id: 'q', name: 'q', value: q, placeholder: T.searchPh, autocomplete: 'off', enterkeyhint: 'search' });
  const status = h('p', { class: 'muted', 'aria-live': 'polite' }, T.loading);
  const list = h('ul', { class: 'cards' }), pager = h('nav', { class: 'pager', 'aria-label': T.pages });
  view(h('h1', { tabindex: -1 }, T.events),
    h('form', { role: 'search', class: 'search', onsubmit: e => { e.preventDefault(); go('#/?' + new URLSearchParams({ q: input.value.trim() })); } },
      h('label', { for: 'q' }, T.search), h('div', { class: 'row' }, input, h('button', { class: 'btn' }, T.go))),
    status, list, pager);
  let r;
  try { r = await api('/api/events?' + new URLSearchParams({ q, page, per_page: PER })); } catch (e) { return failed(e, g, status, route); }
  if (g !== gen) return;
  if (r.status !== 200) return say(status, errText(r), 'err');
  const { items = [], total = 0, per_page = PER } = r.body, n = Math.ceil(total / per_page);
  status.textContent = total === 1 ? T.found1 : total ? t('found', { n: num(total) }) : T.none;
  for (const ev of items) {
    events.set(ev.id, ev);
    list.append(h('li', {}, h('a', { class: 'card' + (ev.bookable ? '' : ' off'), href: '#/events/' + ev.id },
      h('span', { class: 'top' }, kindTag(ev), avail(ev)),
      h('strong', {}, ev.title), h('span', { class: 'muted' }, ev.venue), h('span', {}, when(ev.starts_at)),
      h('b', { class: 'price' }, won(ev.price)))));
  }
  if (n > 1) {
    const link = (pg, txt) => pg >= 1 && pg <= n ? h('a', { class: 'btn sec', href: '#/?' + new URLSearchParams({ q, page: pg }) }, txt) : h('span');
    pager.append(link(page - 1, T.prev), h('span', { class: 'muted' }, t('page', { p: page, n })), link(page + 1, T.next));
  }
}

// #/events/{id}
async function viewEvent(id) {
  const g = gen, sel = new Set(), head = h('div'), body = h('div');
  const msg = h('div', { class: 'msg', 'aria-live': 'polite', tabindex: -1 });
  let ev, focus = !first;
  view(h('a', { class: 'back', href: '#/' }, T.back), head, msg, body);
  say(msg, T.loading);
  const load = async () => {
    let r;
    try { r = await getEvent(id); } catch (e) { failed(e, g, msg, async () => await load() && say(msg, '')); return false; }
    if (g !== gen) return false;
    if (r.status !== 200) { say(msg, r.status === 404 ? T.noEvent : errText(r), 'err'); return false; }
    ev = r.body;
    for (const s of ev.seats || []) if (!s.free) sel.delete(s.seat);
    draw();
    return true;
  };
  const draw = () => {
    const open = new Set([...body.querySelectorAll('details[open]')].map(d => d.dataset.k));
    head.replaceChildren(h('h1', { tabindex: -1 }, ev.title),
      h('p', { class: 'tags' }, kindTag(ev), avail(ev)),
      h('p', {}, ev.venue, h('br'), h('b', {}, when(ev.starts_at)), h('br'), ev.price ? t('each', { p: won(ev.price) }) : T.free));
    titled(ev.title);
    if (focus) { focus = false; head.firstChild.focus(); }
    body.replaceChildren(...[ev.kind === 'coupon' ? coupon() : seatMap(open)].flat());
  };
  const seatBtn = (s, text, label) => {
    const b = h('button', { type: 'button', class: 'seat', title: s.seat, 'aria-pressed': String(sel.has(s.seat)),
      disabled: !s.free || !ev.bookable, 'aria-label': label + (s.free ? '' : ', ' + T.taken) }, text);
    b.onclick = () => {
      if (sel.has(s.seat)) sel.delete(s.seat);
      else if (sel.size >= 10) return say(msg, T.max, 'err');
      else sel.add(s.seat);
      b.setAttribute('aria-pressed', String(sel.has(s.seat)));
      bar();
    };
    return b;
  };
  let sum, btn;
  const bar = () => {
    sum.replaceChildren(sel.size ? h('span', {}, t('picked', { n: sel.size, p: won(sel.size * ev.price) }), h('small', {}, [...sel].join(', '))) : T.pick);
    btn.disabled = !sel.size;
  };
  function seatMap(open) {
    const groups = new Map();
    for (const s of ev.seats || []) {
      const i = s.seat.indexOf('-'), k = s.seat.slice(0, i);
      groups.has(k) || groups.set(k, []);
      groups.get(k).push(s);
    }
    const train = ev.kind === 'train', out = [];
    out.push(h('p', { class: 'legend', 'aria-hidden': 'true' }, h('i', { class: 'seat' }), T.lFree, h('i', { class: 'seat on' }), T.lSel, h('i', { class: 'seat tk' }), T.lTaken));
    if (train) {
      let opened = open.size > 0;
      for (const [car, seats] of groups) {
        const rows = new Map();
        for (const s of seats) {
          const m = /^(\d+)([A-Z])$/.exec(s.seat.slice(car.length + 1)) || [0, '?', s.seat];
          rows.has(m[1]) || rows.set(m[1], {});
          rows.get(m[1])[m[2]] = s;
        }
        const nfree = seats.filter(s => s.free).length;
        const isOpen = open.has(car) || seats.some(s => sel.has(s.seat)) || (!opened && nfree > 0 && (opened = true));
        out.push(h('details', { class: 'car', 'data-k': car, open: isOpen },
          h('summary', {}, t('car', { c: car }), h('span', { class: 'muted' }, ' · ' + t('carFree', { n: nfree }))),
          h('div', { class: 'map' }, [...rows].map(([rn, r]) => h('div', { class: 'srow' }, h('span', { class: 'rn', 'aria-hidden': 'true' }, rn),
            ['A', 'B', 0, 'C', 'D'].map(L => L === 0 ? h('span', { class: 'aisle' })
              : r[L] ? seatBtn(r[L], L, t('trainSeat', { c: car, s: rn + L })) : h('span', { class: 'seat gap' })))))));
      }
    } else {
      out.push(h('div', { class: 'map hall' }, h('div', { class: 'in' }, h('div', { class: 'stage' }, T.stage),
        [...groups].map(([row, seats]) => h('div', { class: 'srow' }, h('span', { class: 'rn', 'aria-hidden': 'true' }, row),
          seats.map(s => seatBtn(s, s.seat.slice(row.length + 1), t('seat', { s: s.seat }))))))));
    }
    sum = h('p', { class: 'sum' });
    btn = h('button', { class: 'btn', type: 'button', onclick: () => book({ seats: [...sel] }) }, T.book);
    bar();
    if (ev.bookable) out.push(h('div', { class: 'bar' }, sum, btn));
    return out;
  }
  function coupon() {
    if (!ev.bookable) return [];
    const max = Math.max(1, Math.min(10, ev.remaining));
    const q = h('input', { type: 'number', id: 'qty', min: 1, max, value: 1, inputmode: 'numeric', required: true });
    sum = h('p', { class: 'sum' });
    const upd = () => { const n = +q.value; sum.textContent = n >= 1 && n <= 10 ? t('qtyN', { n }) + ' · ' + won(n * ev.price) : ''; };
    q.addEventListener('input', upd);
    upd();
    btn = h('button', { class: 'btn' }, T.book);
    return h('form', { class: 'qty', novalidate: true, onsubmit: e => {
      e.preventDefault();
      const n = +q.value;
      if (!Number.isInteger(n) || n < 1 || n > 10) { say(msg, T.qtyErr, 'err'); return q.focus(); }
      book({ quantity: n });
    } }, h('label', { for: 'qty' }, T.qty), q, h('div', { class: 'bar' }, sum, btn));
  }
  async function book(order) {
    // One Idempotency-Key per attempt; the same key while retrying the same order.
    const sig = id + JSON.stringify(order);
    if (pending?.sig !== sig) pending = { sig, key: crypto.randomUUID() };
    btn.disabled = true;
    say(msg, T.booking);
    let r;
    try { r = await send(`/api/events/${id}/bookings`, { method: 'POST', headers: { 'Idempotency-Key': pending.key }, body: JSON.stringify(order) }); } catch (e) { return; }
    if (!r || r.status === 503) { btn.disabled = false; say(msg, T.net, 'err'); msg.focus(); return; }
    pending = null;
    if (g !== gen) return;
    const code = r.body.error?.code;
    if (r.status === 201) {
      const b = r.body;
      sel.clear();
      say(msg, [t('booked', { id: b.id, what: b.seats?.length ? b.seats.join(', ') : t('qtyN', { n: b.quantity }) }), ' ', h('a', { href: '#/me' }, T.seeMine)], 'ok');
    } else if (r.status === 409) {
      const before = [...sel];
      if (!(await load())) return;
      const gone = before.filter(s => !sel.has(s));
      const seat = r.body.error?.seat;
      say(msg, code === 'seat_taken' ? t('seat_taken', { s: (gone.length ? gone : seat ? [seat] : before).join(', ') }) : T[code] || errText(r), 'err');
      msg.focus();
      return;
    } else {
      btn.disabled = !sel.size && ev.kind !== 'coupon';
      say(msg, r.status === 404 ? T.noEvent : r.body.error?.message || errText(r), 'err');
      msg.focus();
      return;
    }
    msg.focus();
    await load();
  }
  if (await load()) say(msg, '');
}

// #/me
async function viewMe() {
  const g = gen, status = h('p', { class: 'muted', 'aria-live': 'polite' }, T.loading), list = h('ul', { class: 'cards' });
  const msg = h('div', { class: 'msg', 'aria-live': 'polite' });
  view(h('h1', { tabindex: -1 }, T.me), msg, status, list);
  let r;
  try { r = await api('/api/me/bookings'); } catch (e) { return failed(e, g, status, route); }
  if (g !== gen) return;
  if (r.status !== 200) return say(status, errText(r), 'err');
  const items = r.body.items || [];
  status.replaceChildren(items.length === 1 ? T.nBookings1 : items.length ? t('nBookings', { n: num(items.length) }) : [T.noBookings, ' ', h('a', { href: '#/' }, T.events)]);
  const cards = new Map();
  for (const b of items) {
    const title = h('a', { href: '#/events/' + b.event_id }, b.event_title || t('ev', { id: b.event_id }));
    const at = h('span', { class: 'muted' }, b.starts_at ? when(b.starts_at) : '');
    const st = h('span', { class: 'tag ' + (b.status === 'confirmed' ? 'good' : 'bad') }, T[b.status] || b.status);
    const act = h('div');
    if (b.status === 'confirmed' && b.starts_at * 1e3 <= Date.now()) act.append(h('span', { class: 'muted' }, T.noCancel));
    else if (b.status === 'confirmed') {
      const c = h('button', { class: 'btn sec', type: 'button' }, T.cancel);
      let armed = 0;
      c.onclick = async () => {
        if (!armed) { armed = setTimeout(() => { armed = 0; c.textContent = T.cancel; c.classList.remove('warn'); }, 5e3); c.textContent = T.sure; c.classList.add('warn'); return; }
        clearTimeout(armed);
        c.disabled = true;
        let x;
        try { x = await send('/api/bookings/' + b.id, { method: 'DELETE' }); } catch (e) { return; }
        const code = x?.body.error?.code;
        if (x?.status === 200) {
          st.className = 'tag bad'; st.textContent = T.cancelled; act.replaceChildren();
          say(msg, t('cancelDone', { id: b.id }), 'ok');
        } else if (code === 'started') {
          act.replaceChildren(h('span', { class: 'muted' }, T.noCancel));
          say(msg, T.cancelStarted, 'err');
        } else {
          armed = 0; c.disabled = false; c.textContent = T.cancel; c.classList.remove('warn');
          say(msg, errText(x), 'err');
        }
      };
      act.append(c);
    }
    cards.set(b, { title, at, act });
    list.append(h('li', { class: 'card' },
      h('span', { class: 'top' }, h('span', { class: 'muted' }, '#' + b.id), st),
      h('strong', {}, title), at,
      h('small', { class: 'muted' }, t('bookedAt', { t: when(b.created_at) })),
      h('div', { class: 'foot' }, h('b', {}, b.seats?.length ? b.seats.join(', ') : t('qtyN', { n: b.quantity })), act)));
  }
  // An older backend sends neither title nor start: take them from the events.
  const ids = [...new Set(items.filter(b => !b.event_title || !b.starts_at).map(b => b.event_id))];
  if (!ids.length) return;
  await Promise.all(ids.map(id => events.has(id) ? 0 : getEvent(id).catch(() => 0)));
  if (g !== gen) return;
  for (const [b, c] of cards) {
    const ev = events.get(b.event_id);
    if (!ev || !ids.includes(b.event_id)) continue;
    c.title.textContent = ev.title;
    c.at.textContent = when(ev.starts_at);
    if (b.status === 'confirmed' && ev.starts_at * 1e3 <= Date.now()) c.act.replaceChildren(h('span', { class: 'muted' }, T.noCancel));
  }
}

function go(hash) { if (location.hash === hash) route(); else location.hash = hash; }
function route() {
  if (halted) return;
  gen++;
  const hs = location.hash.slice(1) || '/', [path, qs = ''] = hs.split('?');
  let m;
  for (const a of document.querySelectorAll('nav a')) a.getAttribute('href') === (path === '/me' ? '#/me' : '#/') ? a.setAttribute('aria-current', 'page') : a.removeAttribute('aria-current');
  if ((m = /^\/events\/(\d+)$/.exec(path))) viewEvent(+m[1]);
  else if (path === '/me') viewMe();
  else viewList(new URLSearchParams(qs));
}

document.documentElement.lang = KO ? 'ko' : 'en';
for (const e of document.querySelectorAll('[data-t]')) e.textContent = T[e.dataset.t];
try { // back to where the visitor was before the waiting room
  const ret = sessionStorage.getItem(RET);
  sessionStorage.removeItem(RET);
  if (ret && (!location.hash || location.hash === '#/')) history.replaceState(null, '', ret);
} catch (_) {}
addEventListener('hashchange', route);
route();
})();
