// The web page (darkchat-api(7), THE WEB PAGE): one HTML document with its
// style and script inline. It talks only to the node that served it: POST /rpc
// for methods, GET /events for the numbered events. Text from peers is only
// ever set as textContent, never parsed as HTML.
#include "darkchat/api.hpp"

namespace dc::api {

namespace {

constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>darkchat</title>
<style>
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 system-ui, sans-serif; color: #1d2327; background: #f4f5f7; height: 100vh;
       display: flex; flex-direction: column; }
header { background: #23282d; color: #fff; padding: 8px 14px; display: flex; gap: 14px; align-items: baseline; }
header h1 { font-size: 17px; margin: 0; }
#status { font-size: 13px; color: #c3c4c7; }
main { flex: 1; display: flex; min-height: 0; }
aside { width: 270px; background: #fff; border-right: 1px solid #dcdcde; overflow-y: auto; padding: 8px; }
aside h2 { font-size: 12px; text-transform: uppercase; color: #646970; margin: 14px 4px 4px; }
ul { list-style: none; margin: 0; padding: 0; }
li.pick { padding: 6px 8px; border-radius: 4px; cursor: pointer; display: flex; justify-content: space-between; }
li.pick:hover { background: #f0f0f1; }
li.pick.current { background: #2271b1; color: #fff; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; background: #a7aaad; }
.dot.on { background: #00a32a; }
.badge { background: #d63638; color: #fff; border-radius: 9px; padding: 0 6px; font-size: 12px; }
.request { padding: 6px 8px; border: 1px solid #dcdcde; border-radius: 4px; margin: 4px 0; font-size: 14px; }
.request button { margin: 4px 4px 0 0; }
form.small { display: flex; gap: 4px; margin: 6px 4px; }
form.small input { flex: 1; min-width: 0; }
section { flex: 1; display: flex; flex-direction: column; min-width: 0; }
#title { padding: 10px 14px; border-bottom: 1px solid #dcdcde; background: #fff; font-weight: 600; }
#members { font-weight: normal; color: #646970; font-size: 13px; }
#log { flex: 1; overflow-y: auto; padding: 10px 14px; }
#older { display: none; margin: 0 auto 8px; }
.msg { margin: 4px 0; max-width: 75%; padding: 6px 10px; border-radius: 8px; background: #fff;
       border: 1px solid #dcdcde; white-space: pre-wrap; overflow-wrap: anywhere; }
.msg.own { margin-left: auto; background: #e6f1fb; border-color: #bcd7ef; }
.msg .who { font-size: 12px; color: #646970; display: block; }
.msg .state { font-size: 11px; color: #646970; margin-left: 6px; }
.note { color: #646970; font-size: 13px; text-align: center; margin: 6px 0; }
.msg img { display: block; max-width: 100%; max-height: 320px; min-height: 48px; margin-top: 4px; border-radius: 4px;
           image-rendering: pixelated; }
#file { display: none; }
#progress { font-size: 13px; color: #646970; padding: 0 14px; }
.pct { display: inline-block; width: 120px; height: 8px; background: #dcdcde; border-radius: 4px; margin-left: 6px; }
.pct span { display: block; height: 100%; background: #2271b1; border-radius: 4px; }
#say { display: flex; gap: 6px; padding: 10px 14px; background: #fff; border-top: 1px solid #dcdcde; }
#text { flex: 1; font: inherit; padding: 6px 8px; }
button { font: inherit; cursor: pointer; }
</style>
</head>
<body>
<header><h1>darkchat</h1><span id="status">connecting…</span></header>
<main>
  <aside>
    <h2>Contacts</h2>
    <ul id="users"></ul>
    <form class="small" id="add"><input id="addr" placeholder="address:port (optional)"><input id="addname"
      placeholder="user"><button>Add</button></form>
    <h2>Groups</h2>
    <ul id="groups"></ul>
    <h2 id="roomshead">Rooms</h2>
    <ul id="rooms"></ul>
    <h2>Requests</h2>
    <div id="requests"></div>
  </aside>
  <section>
    <div id="title">Pick a contact or a group <span id="members"></span></div>
    <div id="log"><button id="older">Older messages</button></div>
    <div id="progress"></div>
    <form id="say"><input id="text" autocomplete="off" placeholder="Write a message" disabled><button
      id="send" disabled>Send</button><input type="file" id="file"><button type="button" id="attach"
      disabled title="send a file or an image">File…</button></form>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let nextId = 1;
async function rpc(method, params) {
  const r = await fetch("/rpc", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }) });
  const j = await r.json();
  if (j.error) throw new Error(j.error.message);
  return j.result;
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function note(text) { const log = $("log"); log.appendChild(el("div", "note", text)); log.scrollTop = log.scrollHeight; }

let current = null;          // {kind: "user", name}, {kind: "group", id, title} or {kind: "room", id}
let historyCount = 50;
const unread = {};           // user name or group id -> count
const states = {};           // message id -> its state element, for our own messages shown
const marks = {};            // message id -> what became of it (delivered, held), shown or not yet

function time(ms) { return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }

function addMessage(who, text, own, at, id, atTop) {
  const log = $("log");
  const m = el("div", own ? "msg own" : "msg");
  m.appendChild(el("span", "who", (own ? "me" : who) + " · " + time(at)));
  m.appendChild(document.createTextNode(text));
  if (id && own) { const s = el("span", "state", marks[id] || "✓"); states[id] = s; m.appendChild(s); }
  if (atTop) log.insertBefore(m, $("older").nextSibling); else { log.appendChild(m); log.scrollTop = log.scrollHeight; }
}

async function showUsers() {
  const users = await rpc("users", {});
  const ul = $("users");
  ul.replaceChildren();
  for (const u of users) {
    if (!u.contact && !u.linked_us) continue;
    const li = el("li", "pick" + (current && current.kind === "user" && current.name === u.name ? " current" : ""));
    const left = el("span");
    left.appendChild(el("span", u.online ? "dot on" : "dot"));
    left.appendChild(document.createTextNode(u.name));
    li.appendChild(left);
    if (unread[u.name]) li.appendChild(el("span", "badge", String(unread[u.name])));
    li.onclick = () => openUser(u.name);
    ul.appendChild(li);
  }
}

async function showGroups() {
  const groups = await rpc("groups", {});
  const ul = $("groups");
  ul.replaceChildren();
  for (const g of groups) {
    const name = g.title || g.id.slice(0, 8);
    const li = el("li", "pick" + (current && current.kind === "group" && current.id === g.id ? " current" : ""));
    li.appendChild(el("span", "", name + " (" + g.members.length + ")"));
    if (unread[g.id]) li.appendChild(el("span", "badge", String(unread[g.id])));
    li.onclick = () => openGroup(g);
    ul.appendChild(li);
    if (current && current.kind === "group" && current.id === g.id)
      $("members").textContent = "— " + g.members.map((m) => m.name).join(", ");
  }
}

async function showRooms() {
  let rooms;
  try { rooms = await rpc("rooms", {}); } catch (e) { $("roomshead").style.display = "none"; return; }
  const ul = $("rooms");
  ul.replaceChildren();
  for (const r of rooms) {
    const li = el("li", "pick" + (current && current.kind === "room" && current.id === r.id ? " current" : ""));
    li.appendChild(el("span", "", r.id.slice(0, 8) + " (" + r.members.length + ")"));
    if (unread[r.id]) li.appendChild(el("span", "badge", String(unread[r.id])));
    li.onclick = () => openRoom(r);
    ul.appendChild(li);
    if (current && current.kind === "room" && current.id === r.id)
      $("members").textContent = "— " + r.members.join(", ");
  }
}

function select() {
  $("text").disabled = $("send").disabled = false;
  $("attach").disabled = current.kind === "room";
  $("text").focus();
  showUsers(); showGroups(); showRooms();
}

async function openUser(name, keepCount) {
  current = { kind: "user", name };
  if (!keepCount) historyCount = 50;
  delete unread[name];
  $("title").firstChild.textContent = name + " ";
  $("members").textContent = "";
  const log = $("log");
  log.replaceChildren($("older"));
  const h = await rpc("history", { user: name, count: historyCount });
  $("older").style.display = h.length >= historyCount && historyCount < 1000 ? "block" : "none";
  for (const m of h) addMessage(m.from, m.text, m.from !== name, m.stored, m.id);
  select();
}

// A group's or room's lines kept by the node (history), the newest first loaded.
async function openLines(kind, id, label, keepCount) {
  current = { kind, id, title: label };
  if (!keepCount) historyCount = 50;
  delete unread[id];
  $("title").firstChild.textContent = label + " ";
  $("members").textContent = "";
  $("log").replaceChildren($("older"));
  const h = await rpc("history", { [kind]: id, count: historyCount });
  $("older").style.display = h.length >= historyCount && historyCount < 1000 ? "block" : "none";
  for (const l of h) addMessage(l.author, l.text, l.own, l.stored);
  select();
}
function openGroup(g, keepCount) { openLines("group", g.id, g.title || g.id.slice(0, 8), keepCount); }
function openRoom(r, keepCount) { openLines("room", r.id, "room " + r.id.slice(0, 8), keepCount); }

$("older").onclick = () => {
  historyCount = Math.min(1000, historyCount + 100);
  if (current.kind === "user") openUser(current.name, true);
  else openLines(current.kind, current.id, current.title, true);
};

// A file or an image chosen here: its bytes to the node (POST /upload), which
// keeps it under its data directory and offers it to the contact or shares it
// with the group.
$("attach").onclick = () => $("file").click();
$("file").onchange = () => {
  const f = $("file").files[0];
  $("file").value = "";
  if (!f || !current || current.kind === "room") return;
  const group = current.kind === "group", to = group ? current.title : current.name;
  const bar = el("span", "pct"), fill = el("span");
  bar.appendChild(fill);
  const line = el("div", "", "sending " + f.name + " to " + to);
  line.appendChild(bar);
  $("progress").appendChild(line);
  const x = new XMLHttpRequest();
  x.open("POST", "/upload?" + (group ? "group=" + encodeURIComponent(current.id) : "to=" + encodeURIComponent(to)) +
         "&name=" + encodeURIComponent(f.name));
  x.upload.onprogress = (e) => { if (e.lengthComputable) fill.style.width = Math.round(100 * e.loaded / e.total) + "%"; };
  x.onload = () => {
    line.remove();
    let j = null;
    try { j = JSON.parse(x.responseText); } catch (e) {}
    if (!j || j.error) note("not sent: " + (j ? j.error.message : "HTTP " + x.status));
    else note((group ? "shared " : "offered ") + f.name + (group ? " with " : " to ") + to);
  };
  x.onerror = () => { line.remove(); note("not sent: the node did not answer"); };
  x.send(f);
};

// Bytes received so far of each transfer, shown as a bar while it lasts.
const bars = {};
function progress(ev) {
  let b = bars[ev.id];
  if (!b) {
    b = bars[ev.id] = el("div", "", "receiving " + ev.name + (ev.from ? " from " + (ev.from.name || ev.from) : ""));
    const bar = el("span", "pct"); b.fill = el("span"); bar.appendChild(b.fill); b.appendChild(bar);
    $("progress").appendChild(b);
  }
  b.fill.style.width = (ev.size ? Math.round(100 * ev.have / ev.size) : 0) + "%";
}
function progressDone(id) { if (bars[id]) { bars[id].remove(); delete bars[id]; } }

const offers = {};           // file id -> its offer's box, until it is answered or ends
function offerDone(id) { if (offers[id]) { offers[id].remove(); delete offers[id]; } }
function offer(ev) {
  const box = offers[ev.id] = el("div", "request");
  const where = ev.group ? " shares in a group " : " offers ";
  box.appendChild(el("div", "", (ev.from.name || "someone") + where + ev.name + " (" + ev.size + " bytes)"));
  for (const [label, method] of [["Accept", "accept_file"], ["Decline", "decline_file"]]) {
    const b = el("button", "", label);
    b.onclick = async () => { try { await rpc(method, { id: ev.id }); offerDone(ev.id); }
                              catch (e) { box.appendChild(el("div", "note", e.message)); } };
    box.appendChild(b);
  }
  $("requests").appendChild(box);
}

$("say").onsubmit = async (ev) => {
  ev.preventDefault();
  const text = $("text").value;
  if (!text || !current) return;
  $("text").value = "";
  try {
    if (current.kind === "user") await rpc("chat", { to: current.name, text });
    else if (current.kind === "group") await rpc("say", { group: current.id, text });
    else await rpc("say", { room: current.id, text });
  } catch (e) { note("not sent: " + e.message); }
};

$("add").onsubmit = async (ev) => {
  ev.preventDefault();
  const name = $("addname").value.trim(), addr = $("addr").value.trim();
  try {
    if (addr) {
      const i = addr.lastIndexOf(":");
      await rpc("ping", i > 0 ? { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) } : { host: addr });
    }
    if (name) await rpc("add", { user: name });
    $("addname").value = $("addr").value = "";
  } catch (e) { note("could not add: " + e.message); }
};

function request(ev) {
  const box = el("div", "request");
  box.appendChild(el("div", "", ev.from + (ev.invitation ? " invites you into " + (ev.title || "a group")
                                                          : " asks you into a " + (ev.private ? "private" : "public") + " group")));
  for (const [label, yes] of [["Yes", true], ["No", false]]) {
    const b = el("button", "", label);
    b.onclick = async () => { try { await rpc("answer", { request: ev.request, yes }); box.remove(); }
                              catch (e) { box.appendChild(el("div", "note", e.message)); } };
    box.appendChild(b);
  }
  $("requests").appendChild(box);
}

function onEvent(ev) {
  switch (ev.kind) {
    case "ready": $("status").textContent = ev.user + " at " + ev.address; break;
    case "presence": case "linked": showUsers(); break;
    case "message": {
      const m = ev.message, other = ev.outgoing ? m.to : m.from;
      if (current && current.kind === "user" && current.name === other)
        addMessage(m.from, m.text, ev.outgoing, m.stored, m.id);
      else { unread[other] = (unread[other] || 0) + 1; showUsers(); }
      break;
    }
    case "queued":  // our own message, stored: the conversation shows it from history
      if (current && current.kind === "user" && current.name === ev.to) openUser(current.name, true);
      break;
    case "delivered": case "held":
      marks[ev.id] = ev.kind === "delivered" ? "✓✓" : "held by " + ev.holder;
      if (states[ev.id]) states[ev.id].textContent = marks[ev.id];
      break;
    case "group.line":
      if (current && current.kind === "group" && current.id === ev.group) addMessage(ev.author, ev.text, ev.own, ev.at);
      else { unread[ev.group] = (unread[ev.group] || 0) + 1; showGroups(); }
      break;
    case "group.request": request(ev); break;
    case "room.line":
      if (current && current.kind === "room" && current.id === ev.room) addMessage(ev.author, ev.text, ev.outgoing, ev.at);
      else { unread[ev.room] = (unread[ev.room] || 0) + 1; showRooms(); }
      break;
    case "room.joined": case "room.member": case "room.left": case "room.moved": showRooms(); break;
    case "file.offered": case "file.announced": offer(ev); break;
    case "file.progress": offerDone(ev.id); progress(ev); break;
    case "problem": case "group.refused": case "room.problem": note(ev.text); break;
    case "file.completed":
      offerDone(ev.id); progressDone(ev.id);
      if (ev.image && current && current.kind === "user" && current.name === ev.from.name) {
        const m = el("div", "msg");
        m.appendChild(el("span", "who", ev.from.name + " · " + time(ev.at)));
        m.appendChild(document.createTextNode(ev.path.split("/").pop()));
        const img = el("img");
        img.src = "/image/" + ev.id;
        img.alt = ev.image.type + " " + ev.image.width + "x" + ev.image.height;
        m.appendChild(img);
        $("log").appendChild(m);
        $("log").scrollTop = $("log").scrollHeight;
      } else if (ev.line) note(ev.line);
      break;
    default:
      if (ev.kind.startsWith("group.")) showGroups();
      if (ev.kind.startsWith("file.") && ev.line) note(ev.line);
      if (ev.kind === "file.declined" || ev.kind === "file.cancelled" || ev.kind === "file.failed") {
        offerDone(ev.id); progressDone(ev.id);
      }
  }
}

function listen() {
  const es = new EventSource("/events");
  es.onopen = () => { if ($("status").textContent === "connecting…") $("status").textContent = "connected"; };
  es.onmessage = (e) => onEvent(JSON.parse(e.data));
  es.onerror = () => { $("status").textContent = "reconnecting…"; };
}

showUsers().catch((e) => { $("status").textContent = e.message; });
showGroups();
showRooms();
listen();
</script>
</body>
</html>
)html";

}  // namespace

std::string_view page() { return kPage; }

}  // namespace dc::api
