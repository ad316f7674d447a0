// Rooms on relays in the web page (darkchat-api(7), THE WEB PAGE), in a real
// browser: a directory, one relay and two darkchatd -u nodes with --dir and
// --web on loopback. Alice asks the directory for a chat with bob (\request,
// darkchat-rooms(7)), bob accepts; both pages list the room with its members;
// alice writes in the room from her page and bob's page shows the line live;
// bob's answer, typed in his page, reaches alice's; the room's stored lines
// scroll back after the page is loaded again; a file cannot be attached in a
// room. Screenshots of both pages are saved. Prints a doctest-style summary.
//
// usage: node rooms_page.mjs DARKCHATD SHOT_DIR   (exit 77: no chromium here)
import { args, Test, pick } from "./harness.mjs";

const { darkchatd, shots } = args("rooms_page.mjs");
const t = new Test(darkchatd, 200);

// What the node's terminal says to a typed line.
const typed = async (node, line) => (await t.rpc(node, "type", { line })).lines || [];

try {
  const dir = await t.start("dir", [], "directory");
  await t.start("relay1", ["--dir", dir.addr], "relay");
  const alice = await t.start("alice", ["--web", "0", "--dir", dir.addr]);
  const bob = await t.start("bob", ["--web", "0", "--dir", dir.addr]);

  // Both users have measured the relay (\relays shows its round trip), and their
  // delay vectors reach the directory with the next heartbeat (each second).
  for (const u of [alice, bob])
    t.check(await t.until(u.name + " measures the relay", async () =>
      (await typed(u, "\\relays")).some((l) => /^  127\.0\.0\.1:\d+ rtt \d+ ms/.test(l))), u.name + " has measured the relay");
  await new Promise((r) => setTimeout(r, 1500));

  // alice asks for bob; bob accepts; until the directory has a relay measured by both.
  let accepted = false;
  for (let attempt = 0; attempt < 5 && !accepted; attempt++) {
    await typed(alice, "\\request bob");
    await t.until("bob asked", async () => (await typed(bob, "\\accept alice")).every((l) => !/no request/.test(l)));
    accepted = await t.until("the room at alice", async () => (await t.rpc(alice, "rooms", {})).length === 1);
  }
  t.check(accepted, "alice's request for bob is accepted and the directory places the room");
  const [room] = await t.rpc(alice, "rooms", {});
  t.check(await t.until("the room at bob", async () => (await t.rpc(bob, "rooms", {})).some((r) => r.id === room.id)),
          "bob is in the same room");

  const [pa, pb] = await t.pages(2);
  await pa.goto(alice.url, { waitUntil: "load" });
  await pb.goto(bob.url, { waitUntil: "load" });
  const short = room.id.slice(0, 8);
  for (const [p, who] of [[pa, "alice"], [pb, "bob"]])
    t.check(await t.until("the room in " + who + "'s page", () =>
      p.$$eval("#rooms li", (lis, short) => lis.some((li) => li.textContent.startsWith(short + " (2)")), short)),
      who + "'s page lists the room with its 2 members");

  // Both open it; alice writes from her page, bob's page shows it as it arrives.
  await pick(pb, "#rooms", short);
  await pa.bringToFront();
  await pick(pa, "#rooms", short);
  await pa.waitForSelector("#text:not([disabled])");
  t.check(await t.until("the members in alice's page", () =>
    pa.$eval("#members", (m) => m.textContent.includes("alice") && m.textContent.includes("bob"))),
    "the room's members are shown");
  t.check(await pa.$eval("#attach", (b) => b.disabled), "no file can be attached in a room");
  await pa.type("#text", "hello room, from a page");
  await pa.click("#send");
  t.check(await t.until("the line in bob's page", () =>
    pb.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("hello room, from a page")))),
    "bob's page shows alice's room line as it arrives");
  t.check(await t.until("alice's own line in her page", () =>
    pa.$$eval(".msg.own", (ms) => ms.some((m) => m.textContent.includes("hello room, from a page")))),
    "alice's page shows her line as her own");

  // And back: bob answers from his page.
  await pb.bringToFront();
  await pb.type("#text", "<i>hi</i> alice, from the room");
  await pb.click("#send");
  t.check(await t.until("bob's answer in alice's page", () =>
    pa.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("<i>hi</i> alice, from the room")))),
    "alice's page shows bob's answer, as text");
  t.check((await pa.$$eval(".msg i", (x) => x.length)) === 0, "a peer's markup in a room stays text");

  // The room's lines are kept: 55 more, the page loaded again, the newest shown, older on demand.
  for (let i = 0; i < 55; i++) await t.rpc(bob, "say", { room: room.id, text: "room line " + i });
  await t.until("55 room lines kept", async () => (await t.rpc(alice, "history", { room: room.id, count: 100 })).length >= 57);
  await pa.bringToFront();
  await pa.goto(alice.url, { waitUntil: "load" });
  await t.until("the room listed again", () => pa.$$eval("#rooms li", (lis) => lis.length === 1));
  await pick(pa, "#rooms", short);
  t.check(await t.until("room lines from history", () =>
    pa.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("room line 54")))),
    "a room opened shows its stored lines");
  t.check(await t.until("the older button for the room", () => pa.$eval("#older", (b) => getComputedStyle(b).display !== "none")),
    "a long room offers older lines");
  await pa.click("#older");
  t.check(await t.until("older room lines", () =>
    pa.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("hello room, from a page")))),
    "older lines of the room load");

  await t.screenshots(shots, [[pa, "rooms-alice.png"], [pb, "rooms-bob.png"]]);
} catch (e) {
  await t.finish(e);
}
await t.finish();
