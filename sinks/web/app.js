// listenin live console: a list of every call on the left, the chosen call on the right,
// its parties interleaved in time (or one column per party: the "view" menu).
// Connects to /ws on the same host (token from ?token= or #token= in the page URL),
// subscribes with replay, resumes from the last seq of each call after a reconnect.
"use strict";

const MAX_ENDED = 100; // ended calls kept in the list (oldest removed first)
const CLOSE_WORDS = {
  1000: "closed", 1001: "the server is restarting", 1006: "connection lost",
  1008: "refused by the server", 1009: "a message was too big", 1011: "server error",
  4008: "this console fell behind and the server dropped it",
};
const calls = new Map(); // call_id -> the current call with that id
const ended = []; // ended calls, oldest first
const tbody = document.querySelector("#list tbody");
const main = document.getElementById("calls");
const statusEl = document.getElementById("status");
const countEl = document.getElementById("count");
let socket = null;
let retryMs = 500;
let recording = false; // the server can pause/resume an archive (hello)
let selected = null;

function token() {
  const q = new URLSearchParams(location.search).get("token");
  if (q) return q;
  const h = new URLSearchParams(location.hash.slice(1)).get("token");
  return h || "";
}

function clock(s) {
  s = Math.max(0, Math.floor(s));
  const m = Math.floor(s / 60), r = s % 60;
  return String(m).padStart(2, "0") + ":" + String(r).padStart(2, "0");
}

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

function updateCount() {
  const live = [...calls.values()].filter((c) => !c.ended).length;
  countEl.textContent = live + (live === 1 ? " active call" : " active calls");
  document.getElementById("empty").hidden = tbody.childElementCount > 0;
  document.getElementById("pick").hidden = selected !== null || tbody.childElementCount === 0;
}

function select(call) {
  if (selected) { selected.el.removeAttribute("data-selected"); selected.row.removeAttribute("aria-selected"); }
  selected = call;
  call.el.dataset.selected = "true";
  call.row.setAttribute("aria-selected", "true");
  updateCount();
}

function newCall(id) {
  const el = document.getElementById("call-template").content.firstElementChild.cloneNode(true);
  const row = document.getElementById("row-template").content.firstElementChild.cloneNode(true);
  el.dataset.callId = row.dataset.callId = id;
  el.querySelector(".call-id").textContent = row.querySelector(".row-id").textContent = id;
  const call = { id, el, row, parties: new Map(), lastSeq: 0, clockS: 0, clockAt: performance.now(),
                 ended: false, paused: false, levels: new Map() };
  const rec = el.querySelector(".rec");
  rec.hidden = !recording;
  rec.addEventListener("click", () => {
    const type = call.paused ? "recording.resume" : "recording.pause";
    if (!call.ended && socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type, call_id: id }));
  });
  row.addEventListener("click", () => select(call));
  row.addEventListener("keydown", (e) => { if (e.key === "Enter") select(call); });
  calls.set(id, call);
  tbody.prepend(row);
  main.append(el);
  if (!selected) select(call);
  updateCount();
  return call;
}

function callOf(id) {
  return calls.get(id) || newCall(id);
}

function partyOf(call, party) {
  let p = call.parties.get(party);
  if (p) return p;
  const el = document.getElementById("party-template").content.firstElementChild.cloneNode(true);
  el.dataset.party = party;
  el.querySelector(".label").textContent = party;
  const live = document.createElement("p");
  live.className = "live";
  live.dataset.party = party;
  p = { el, lines: el.querySelector(".lines"), partial: el.querySelector(".partial"), live,
        segments: new Set(), index: call.parties.size % 4 };
  el.dataset.tone = live.dataset.tone = String(p.index);
  call.parties.set(party, p);
  call.el.querySelector(".parties").append(el);
  call.el.querySelector(".partials").append(live);
  call.row.querySelector(".row-parties").textContent = [...call.parties.keys()].join(", ");
  return p;
}

function advanceClock(call, s) {
  if (typeof s === "number" && s >= call.clockS) {
    call.clockS = s;
    call.clockAt = performance.now();
  }
}

function setState(call) {
  const text = call.ended ? "ended" : call.paused ? "live · not recording" : "live";
  call.el.querySelector(".state").textContent = text;
  call.row.querySelector(".row-state").textContent = text;
  const rec = call.el.querySelector(".rec");
  rec.textContent = call.paused ? "resume recording" : "pause recording";
  rec.disabled = call.ended;
}

function handle(ev) {
  if (ev.type === "hello") {
    recording = ev.recording === true;
    for (const c of calls.values()) c.el.querySelector(".rec").hidden = !recording;
    return;
  }
  if (!ev.call_id) {
    if (ev.type === "error") console.warn("listenin:", ev.code, ev.message);
    return;
  }
  if (ev.type === "call.started") {
    const old = calls.get(ev.call_id);
    if (old && old.ended) calls.delete(ev.call_id); // the id came again: a new call; the old stays
  }
  const call = callOf(ev.call_id);
  if (ev.seq) {
    if (ev.seq <= call.lastSeq && ev.type !== "resync") return; // already seen
    call.lastSeq = Math.max(call.lastSeq, ev.seq);
  }
  advanceClock(call, ev.emitted_at ?? ev.at);
  switch (ev.type) {
    case "party.joined":
      partyOf(call, ev.party);
      break;
    case "transcript.partial": {
      const p = partyOf(call, ev.party);
      p.partial.textContent = ev.text;
      p.partial.dataset.segment = p.live.dataset.segment = ev.segment_id;
      p.live.textContent = ev.party + ": " + ev.text + " …";
      break;
    }
    case "transcript.final":
      addFinal(call, ev);
      break;
    case "alert":
      markAlert(call, ev);
      break;
    case "dtmf":
      addKeyed(call, ev);
      break;
    case "party.left":
      partyOf(call, ev.party).el.dataset.left = "true";
      break;
    case "call.ended":
      endCall(call, ev.duration);
      break;
    case "call.stats":
      for (const [party, s] of Object.entries(ev.parties || {})) showStats(call, partyOf(call, party), party, s);
      break;
    case "recording.paused":
    case "recording.resumed":
      call.paused = ev.type === "recording.paused";
      setState(call);
      break;
    case "resync":
      for (const f of ev.finals || []) addFinal(call, f);
      for (const a of ev.alerts || []) markAlert(call, a);
      call.lastSeq = ev.seq;
      if (ev.ended) endCall(call, undefined);
      break;
  }
  updateCount();
}

function endCall(call, duration) {
  if (call.ended) return;
  call.ended = true;
  call.el.dataset.ended = call.row.dataset.ended = "true";
  call.clockS = duration ?? call.clockS;
  call.el.querySelector(".duration").textContent = call.row.querySelector(".row-duration").textContent = clock(call.clockS);
  for (const p of call.parties.values()) p.live.textContent = "";
  setState(call);
  ended.push(call);
  while (ended.length > MAX_ENDED) {
    const gone = ended.shift();
    if (gone === selected) { ended.unshift(gone); break; } // never the one on screen
    gone.row.remove();
    gone.el.remove();
  }
}

function line(ev, withParty) {
  const li = document.createElement("li");
  li.dataset.segment = ev.segment_id;
  li.dataset.start = ev.start;
  const t = document.createElement("time");
  t.textContent = clock(ev.start);
  li.append(t);
  if (withParty) {
    const who = document.createElement("b");
    who.className = "who";
    who.textContent = ev.speaker || ev.party;
    li.append(who);
  }
  li.append(document.createTextNode((ev.speaker && !withParty ? ev.speaker + ": " : "") + ev.text));
  return li;
}

function addFinal(call, ev) {
  const p = partyOf(call, ev.party);
  if (p.partial.dataset.segment === ev.segment_id) p.partial.textContent = "";
  if (p.live.dataset.segment === ev.segment_id) p.live.textContent = "";
  if (p.segments.has(ev.segment_id) || !ev.text) return;
  p.segments.add(ev.segment_id);
  p.lines.append(line(ev, false));
  p.lines.scrollTop = p.lines.scrollHeight;
  const convo = call.el.querySelector(".conversation");
  const li = line(ev, true);
  li.dataset.tone = String(p.index);
  let after = convo.lastElementChild; // finals come almost in order: look from the end
  while (after && Number(after.dataset.start) > ev.start) after = after.previousElementSibling;
  if (after) after.after(li); else convo.prepend(li);
  if (li === convo.lastElementChild) convo.scrollTop = convo.scrollHeight;
}

function addKeyed(call, ev) {
  // a keyed digit: a marker line per run of presses (within 3 s), in both views
  const p = partyOf(call, ev.party);
  const run = p.keyed;
  if (run && ev.start - run.end <= 3 && p.lines.lastElementChild === run.items[0]) {
    run.end = Math.max(run.end, ev.end);
    for (const li of run.items) li.querySelector(".digits").textContent += ev.digit;
    return;
  }
  const items = [false, true].map((withParty) => {
    const li = line({ ...ev, segment_id: "", text: "" }, withParty);
    li.classList.add("keyed");
    const digits = document.createElement("span");
    digits.className = "digits";
    digits.title = "keyed on the phone (" + ev.source + ")";
    digits.textContent = ev.digit;
    li.append("\u2328 keyed ", digits);
    return li;
  });
  p.keyed = { end: ev.end, items };
  p.lines.append(items[0]);
  const convo = call.el.querySelector(".conversation");
  items[1].dataset.tone = String(p.index);
  let after = convo.lastElementChild;
  while (after && Number(after.dataset.start) > ev.start) after = after.previousElementSibling;
  if (after) after.after(items[1]); else convo.prepend(items[1]);
}

function markAlert(call, ev) {
  // the alert follows its final: mark the matched words and add a badge to its lines;
  // the call's card and its row in the list are highlighted with the count of alerts
  const p = partyOf(call, ev.party);
  call.alerts ??= new Set();
  call.alerts.add(ev.segment_id + "\n" + ev.rule);
  call.el.dataset.alerts = call.row.dataset.alerts = String(call.alerts.size);
  call.row.title = call.alerts.size + " alert(s), last: " + ev.rule + " (" + ev.party + ")";
  for (const li of [...p.lines.children, ...call.el.querySelector(".conversation").children]) {
    if (li.dataset.segment !== ev.segment_id || li.querySelector(`[data-rule="${CSS.escape(ev.rule)}"]`)) continue;
    li.classList.add("alerted");
    const text = li.lastChild;
    const at = text.nodeType === Node.TEXT_NODE ? text.textContent.indexOf(ev.matched) : -1;
    if (at >= 0) {
      const mark = document.createElement("mark");
      mark.textContent = ev.matched;
      text.after(mark, document.createTextNode(text.textContent.slice(at + ev.matched.length)));
      text.textContent = text.textContent.slice(0, at);
    }
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.dataset.rule = ev.rule;
    badge.textContent = "\u26a0 " + ev.rule;
    li.append(badge);
  }
}

function showStats(call, p, party, s) {
  const level = Math.max(-60, s.level_dbfs ?? -60);
  p.el.querySelector(".level").value = level;
  call.levels.set(party, level);
  call.row.querySelector(".row-level").value = Math.max(...call.levels.values());
  const bits = [];
  if (s.lost !== undefined) bits.push("loss " + s.lost + "/" + (s.rx_packets + s.lost));
  if (s.jitter_ms !== undefined) bits.push("jitter " + s.jitter_ms + " ms");
  if (s.jb_delay_ms !== undefined) bits.push("jb " + s.jb_delay_ms + " ms");
  if (s.asr_lag_s !== null && s.asr_lag_s !== undefined) bits.push("asr lag " + s.asr_lag_s.toFixed(2) + " s");
  p.el.querySelector(".figures").textContent = bits.join(" · ");
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const t = token();
  const query = t ? "?token=" + encodeURIComponent(t) : "";
  let opened = false;
  socket = new WebSocket(scheme + "://" + location.host + "/ws" + query);
  setStatus("connecting", "connecting…");
  socket.onopen = () => {
    opened = true;
    retryMs = 500;
    setStatus("open", "connected");
    const resume = {};
    for (const [id, c] of calls) resume[id] = c.lastSeq;
    socket.send(JSON.stringify({ type: "subscribe", replay: true, resume }));
  };
  socket.onmessage = (m) => {
    try { handle(JSON.parse(m.data)); } catch (e) { console.error(e); }
  };
  socket.onclose = async (e) => {
    if (!opened) { // refused before it opened: a missing or wrong token says so over HTTP
      const answer = await fetch("/ws" + query).then((r) => r.status, () => 0);
      if (answer === 401) {
        setStatus("error", t ? "wrong token: open this page with ?token=YOUR_TOKEN (the server's LISTENIN_WS_TOKEN)"
                             : "this server needs a token: open this page with ?token=YOUR_TOKEN");
        return; // retrying cannot help
      }
    }
    const why = CLOSE_WORDS[e.code] || "closed (" + e.code + ")";
    setStatus("closed", "disconnected: " + why + "; trying again in " + Math.round(retryMs / 1000 * 10) / 10 + " s");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

document.getElementById("view").addEventListener("change", (e) => { document.body.dataset.view = e.target.value; });

setInterval(() => {
  for (const c of calls.values()) {
    if (c.ended) continue;
    const text = clock(c.clockS + (performance.now() - c.clockAt) / 1000);
    c.row.querySelector(".row-duration").textContent = text;
    if (c === selected) c.el.querySelector(".duration").textContent = text;
  }
}, 500);

updateCount();
connect();
