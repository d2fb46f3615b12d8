// listenin live console: one card per call, one column per party.
// Connects to /ws on the same host (token from ?token= or #token= in the page URL),
// subscribes with replay, resumes from the last seq of each call after a reconnect.
"use strict";

const calls = new Map(); // call_id -> {el, parties: Map, lastSeq, startedAt, clockAt, ended, paused}
const main = document.getElementById("calls");
const statusEl = document.getElementById("status");
const countEl = document.getElementById("count");
let socket = null;
let retryMs = 500;

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
  document.getElementById("empty").hidden = main.querySelector("[data-call-id]") !== null;
}

function callCard(id) {
  let call = calls.get(id);
  if (call) return call;
  const el = document.getElementById("call-template").content.firstElementChild.cloneNode(true);
  el.dataset.callId = id;
  el.querySelector(".call-id").textContent = id;
  call = { el, parties: new Map(), lastSeq: 0, clockS: 0, clockAt: performance.now(),
           ended: false, paused: false };
  el.querySelector(".rec").addEventListener("click", () => {
    const type = call.paused ? "recording.resume" : "recording.pause";
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type, call_id: id }));
  });
  calls.set(id, call);
  main.prepend(el);
  updateCount();
  return call;
}

function partyColumn(call, party) {
  let p = call.parties.get(party);
  if (p) return p;
  const el = document.getElementById("party-template").content.firstElementChild.cloneNode(true);
  el.dataset.party = party;
  el.querySelector(".label").textContent = party;
  p = { el, lines: el.querySelector(".lines"), partial: el.querySelector(".partial"), segments: new Map() };
  call.parties.set(party, p);
  call.el.querySelector(".parties").append(el);
  return p;
}

function advanceClock(call, s) {
  if (typeof s === "number" && s >= call.clockS) {
    call.clockS = s;
    call.clockAt = performance.now();
  }
}

function handle(ev) {
  if (!ev.call_id) {
    if (ev.type === "error") console.warn("listenin:", ev.code, ev.message);
    return;
  }
  if (ev.type === "call.started") {
    const old = calls.get(ev.call_id);
    if (old && old.ended) calls.delete(ev.call_id); // the id came again: a new card; the old stays
  }
  const call = callCard(ev.call_id);
  if (ev.seq) {
    if (ev.seq <= call.lastSeq && ev.type !== "resync") return; // already seen
    call.lastSeq = Math.max(call.lastSeq, ev.seq);
  }
  advanceClock(call, ev.emitted_at ?? ev.at);
  switch (ev.type) {
    case "party.joined":
      partyColumn(call, ev.party);
      break;
    case "transcript.partial": {
      const p = partyColumn(call, ev.party);
      p.partial.textContent = ev.text;
      p.partial.dataset.segment = ev.segment_id;
      break;
    }
    case "transcript.final":
      addFinal(call, ev);
      break;
    case "party.left":
      partyColumn(call, ev.party).el.dataset.left = "true";
      break;
    case "call.ended":
      call.ended = true;
      call.el.dataset.ended = "true";
      call.el.querySelector(".state").textContent = "ended";
      call.clockS = ev.duration ?? call.clockS;
      call.el.querySelector(".duration").textContent = clock(call.clockS);
      break;
    case "call.stats":
      for (const [party, s] of Object.entries(ev.parties || {})) showStats(partyColumn(call, party), s);
      break;
    case "recording.paused":
    case "recording.resumed":
      call.paused = ev.type === "recording.paused";
      call.el.querySelector(".rec").textContent = call.paused ? "resume recording" : "pause recording";
      call.el.querySelector(".state").textContent = call.ended ? "ended" : call.paused ? "live · not recording" : "live";
      break;
    case "resync":
      for (const f of ev.finals || []) addFinal(call, f);
      call.lastSeq = ev.seq;
      if (ev.ended) handle({ type: "call.ended", call_id: ev.call_id });
      break;
  }
  updateCount();
}

function addFinal(call, ev) {
  const p = partyColumn(call, ev.party);
  if (p.segments.has(ev.segment_id) || !ev.text) {
    if (p.partial.dataset.segment === ev.segment_id) p.partial.textContent = "";
    return;
  }
  const li = document.createElement("li");
  li.dataset.segment = ev.segment_id;
  const t = document.createElement("time");
  t.textContent = clock(ev.start);
  li.append(t, document.createTextNode((ev.speaker ? ev.speaker + ": " : "") + ev.text));
  p.segments.set(ev.segment_id, li);
  p.lines.append(li);
  p.lines.scrollTop = p.lines.scrollHeight;
  if (p.partial.dataset.segment === ev.segment_id) p.partial.textContent = "";
}

function showStats(p, s) {
  p.el.querySelector(".level").value = Math.max(-60, s.level_dbfs ?? -60);
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
  socket = new WebSocket(scheme + "://" + location.host + "/ws" + (t ? "?token=" + encodeURIComponent(t) : ""));
  setStatus("connecting", "connecting…");
  socket.onopen = () => {
    retryMs = 500;
    setStatus("open", "connected");
    const resume = {};
    for (const [id, c] of calls) resume[id] = c.lastSeq;
    socket.send(JSON.stringify({ type: "subscribe", replay: true, resume }));
  };
  socket.onmessage = (m) => {
    try { handle(JSON.parse(m.data)); } catch (e) { console.error(e); }
  };
  socket.onclose = (e) => {
    setStatus("closed", "disconnected (" + e.code + "), retrying…");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

setInterval(() => {
  for (const c of calls.values()) {
    if (c.ended) continue;
    const s = c.clockS + (performance.now() - c.clockAt) / 1000;
    c.el.querySelector(".duration").textContent = clock(s);
  }
}, 500);

updateCount();
connect();
