// The room client's delivery alone: joining with a ticket, lines sealed, acked and
// echoed once, received lines in order and once, refusals, moves, and rooms resumed
// from the store, with time passed in.
#include "roles/delivery.hpp"

#include "room_parts.hpp"

using namespace dc;
using namespace dc::roles;
using namespace dc::roles::parts_test;

namespace {

// Alice in a room with bob, placed on relay1 by a directory.
struct Fixture {
    explicit Fixture(RoomSnapshot snap = {}) {
        crypto.random(bob_kx_sk);
        bob_kx_pk = crypto.kx_public(bob_kx_sk);
        room = dir.env.random_id<16>();
        d.resume(0, 77, std::move(snap));
    }

    core::Crypto& crypto = core::real_crypto();
    Client alice;
    Measuring m{alice.ctx, 7};
    Delivery d{alice.ctx, m};
    Peer dir{"directory", Addr::v4(127, 0, 0, 2, 7300)};
    Peer relay{"relay1", relay_addr(1)};
    Peer relay2{"relay2", relay_addr(2)};
    Peer bob{"bob", Addr::v4(127, 0, 0, 3, 7000)};
    KxSecretKey bob_kx_sk{};
    KxPublicKey bob_kx_pk{};
    RoomId room{};

    wire::ChatInfo chat(const Peer& on, std::uint32_t epoch, const Peer* third = nullptr) {
        wire::Ticket t;
        t.room = room;
        t.relay = on.addr;
        t.relay_key = on.key();
        t.epoch = epoch;
        t.members = {{"alice", alice.env.id().pk}, {"bob", bob.key()}};
        if (third) t.members.push_back({third->name(), third->key()});
        wire::ChatInfo ci;
        ci.room = room;
        ci.relay = on.addr;
        ci.relay_key = on.key();
        ci.epoch = epoch;
        ci.members = {"alice", "bob"};
        if (third) ci.members.push_back(third->name());
        ci.ticket = dir.env.sign(wire::encode(t));
        return ci;
    }

    // Alice joins on `on` and the relay answers with both members' keys.
    void join(TimeMs now, Peer& on) {
        d.handle_timeout(now, sel);
        auto joins = alice.sent(wire::MsgType::room_join);
        REQUIRE(joins.size() == 1);
        CHECK(joins[0].first == on.addr);
        auto j = wire::decode_room_join(joins[0].second.payload);
        REQUIRE(j.ok());
        auto mk = wire::decode_member_key(j->member_key.body);
        REQUIRE(mk.ok());
        alice_kx = mk->kx;
        wire::RoomRoster ro{room, 1, {j->member_key, bob.env.sign(wire::encode(wire::MemberKey{room, "bob", bob_kx_pk}))}, {}, false, {}};
        auto in = alice.receive(now, on, wire::MsgType::room_roster, wire::encode(ro));
        d.on_roster(now, in, ro);
    }

    // The texts of the lines alice sent, as bob opens them (bob keeps her line key: an
    // empty copy means he holds it); the number of lines in each packet in `packets`.
    std::vector<std::string> lines_to_bob(std::vector<std::size_t>* packets = nullptr) {
        return lines_to_bob(alice.sent(wire::MsgType::room_line), packets);
    }
    std::vector<std::string> lines_to_bob(const std::vector<std::pair<Addr, wire::Packet>>& sent,
                                          std::vector<std::size_t>* packets = nullptr) {
        std::vector<std::string> v;
        for (auto& [to, p] : sent) {
            auto rl = wire::decode_room_line(p.payload);
            REQUIRE(rl.ok());
            auto b = wire::decode_line_body(rl->tagged);
            REQUIRE(b.ok());
            // Authenticated to bob with the key only alice and bob can make, not signed.
            CHECK(rl->line == wire::SignedBlob{});
            REQUIRE(rl->tags.size() == wire::kMemberTag);
            auto keys = make_pair_keys(crypto, room, bob_kx_sk, "bob", alice_kx, "alice");
            REQUIRE(keys.has_value());
            std::array<std::uint8_t, 16> tag{};
            std::copy(rl->tags.begin(), rl->tags.end(), tag.begin());
            CHECK(tag_matches(crypto, keys->from, rl->tagged, tag));
            REQUIRE(b->copies.size() == 1);
            CHECK(b->copies[0].to == "bob");
            // The copy is alice's line key, sealed to bob; each text is encrypted under it once.
            if (!b->copies[0].sealed.empty()) {
                auto key = crypto.open(b->copies[0].sealed, bob_kx_pk, bob_kx_sk);
                REQUIRE(key.has_value());
                REQUIRE(key->size() == 32);
                std::copy(key->begin(), key->end(), bob_holds.begin());
                bob_copy = b->copies[0].sealed;
            }
            REQUIRE(bob_holds != core::SymmetricKey{});
            auto open = [&](const Bytes& sealed, std::uint64_t seq) {
                REQUIRE(sealed.size() >= 16);
                Bytes text(sealed.size() - 16);
                REQUIRE(crypto.aead_open(text.data(), sealed, {}, seq, bob_holds));
                v.emplace_back(text.begin(), text.end());
            };
            open(b->text, b->seq);
            for (std::size_t i = 0; i < b->next.size(); ++i) open(b->next[i].text, b->seq + 1 + i);
            if (packets) packets->push_back(1 + b->next.size());
        }
        return v;
    }
    core::SymmetricKey bob_holds{};  // alice's line key, once bob opened a copy
    Bytes bob_copy;                  // the copy he opened it from

    // bob's ack of alice's lines, tagged for her as members send acks now; with the mark
    // of the copy he holds, or none (as after a restart).
    void tagged_ack_from_bob(std::uint64_t upto, std::uint64_t run, bool holds = true) {
        wire::AckBody a{room, "bob", "alice", upto, run, {}};
        if (holds) a.key.assign(bob_copy.end() - wire::kKeyMark, bob_copy.end());
        wire::RoomAck ra{room, "alice", {}, wire::encode(a), {}, {}};
        auto keys = make_pair_keys(crypto, room, bob_kx_sk, "bob", alice_kx, "alice");
        REQUIRE(keys.has_value());
        const auto t = member_tag(crypto, keys->to, ra.tagged);
        ra.tags.assign(t.begin(), t.end());
        d.on_ack(ra);
    }

    void ack_from_bob(std::uint64_t upto, std::uint64_t run) {
        wire::RoomAck ra{room, "alice", bob.env.sign(wire::encode(wire::AckBody{room, "bob", "alice", upto, run, {}})), {}, {}, {}};
        d.on_ack(ra);
    }

    wire::RoomLine line_from_bob(std::uint64_t run, std::uint64_t seq, std::uint64_t first_kept, const std::string& text) {
        wire::LineBody b;
        b.room = room;
        b.author = "bob";
        b.seq = seq;
        b.first_kept = first_kept;
        b.run = run;
        b.copies.push_back({"alice", crypto.seal(Bytes(text.begin(), text.end()), kx_of_alice())});
        return wire::RoomLine{room, bob.env.sign(wire::encode(b)), {}, {}};
    }

    // A line of bob's as authors now send it: the text encrypted once under bob's line
    // key, the key sealed to alice.
    wire::RoomLine keyed_line_from_bob(std::uint64_t run, std::uint64_t seq, const core::SymmetricKey& key,
                                       const Bytes& sealed_key, const std::string& text) {
        wire::LineBody b;
        b.room = room;
        b.author = "bob";
        b.seq = seq;
        b.first_kept = 1;
        b.run = run;
        b.copies.push_back({"alice", sealed_key});
        b.text.resize(text.size() + 16);
        crypto.aead_seal(b.text.data(), Bytes(text.begin(), text.end()), {}, seq, key);
        return wire::RoomLine{room, bob.env.sign(wire::encode(b)), {}, {}};
    }

    // Alice is given the room and sends her join; her sealing key, as the join declares it.
    void joining() {
        d.on_chats(0, {chat(relay, 1)}, dir.key());
        d.handle_timeout(0, sel);
        auto joins = alice.sent(wire::MsgType::room_join);
        REQUIRE(joins.size() == 1);
        auto j = wire::decode_room_join(joins[0].second.payload);
        REQUIRE(j.ok());
        auto mk = wire::decode_member_key(j->member_key.body);
        REQUIRE(mk.ok());
        alice_kx = mk->kx;
    }

    // Alice is given the room (with a third member), joins, and the relay answers with
    // her, bob's and the third's room keys, and relay_kx.
    void join_room(Peer* third, const KxPublicKey& third_kx, const KxPublicKey& relay_kx) {
        d.on_chats(0, {chat(relay, 1, third)}, dir.key());
        d.handle_timeout(0, sel);
        auto joins = alice.sent(wire::MsgType::room_join);
        REQUIRE(joins.size() == 1);
        auto j = wire::decode_room_join(joins[0].second.payload);
        REQUIRE(j.ok());
        alice_kx = wire::decode_member_key(j->member_key.body)->kx;
        wire::RoomRoster ro{room, 1, {j->member_key, bob.env.sign(wire::encode(wire::MemberKey{room, "bob", bob_kx_pk}))},
                            relay_kx, false, {}};
        if (third) ro.member_keys.push_back(third->env.sign(wire::encode(wire::MemberKey{room, third->name(), third_kx})));
        d.on_roster(0, alice.receive(0, relay, wire::MsgType::room_roster, wire::encode(ro)), ro);
        (void)alice.events();
    }

    // A line of bob's as a member sees it: tagged for alice under tag_key (none: no tag).
    wire::RoomLine tagged_line_from_bob(std::uint64_t seq, const core::SymmetricKey& key, const Bytes& sealed,
                                        const std::string& text, const core::SymmetricKey* tag_key) {
        auto rl = keyed_line_from_bob(5, seq, key, sealed, text);
        rl.tagged = rl.line.body;
        rl.line = {};
        if (tag_key) {
            const auto t = member_tag(crypto, *tag_key, rl.tagged);
            rl.tags.assign(t.begin(), t.end());
        }
        return rl;
    }

    // A line key of bob's, and its copy sealed to alice (once she sent her join).
    std::pair<core::SymmetricKey, Bytes> bobs_line_key() {
        core::SymmetricKey key{};
        crypto.random(key);
        return {key, crypto.seal(ByteView(key), alice_kx)};
    }

    // Alice's sealing key, as her join declared it.
    KxPublicKey kx_of_alice() { return alice_kx; }

    std::vector<StoreOp> store() {
        std::vector<StoreOp> v;
        while (auto op = d.poll_store()) v.push_back(std::move(*op));
        return v;
    }

    Selector sel{1};
    KxPublicKey alice_kx{};
};

template <typename T>
std::size_t count_ops(const std::vector<StoreOp>& ops) {
    return static_cast<std::size_t>(std::count_if(ops.begin(), ops.end(), [](auto& o) { return std::holds_alternative<T>(o); }));
}

std::vector<std::string> texts(const std::vector<room_ev::Line>& lines) {
    std::vector<std::string> v;
    for (auto& l : lines) v.push_back(l.text);
    return v;
}

}  // namespace

TEST_CASE("a line is stored before it is sent, sealed to the other member, and echoed once when acked") {
    Fixture f;
    CHECK_FALSE(f.d.on_chats(0, {f.chat(f.relay, 1)}, f.dir.key()));
    f.join(0, f.relay);
    auto joined = f.alice.events_of<room_ev::RoomJoined>();
    REQUIRE(joined.size() == 1);
    CHECK(joined[0].members == std::vector<std::string>{"bob"});
    (void)f.store();

    f.d.send_line(100, room_cmd::Send{f.room, "hello"});
    auto ops = f.store();
    CHECK(count_ops<store_op::PutRoomLine>(ops) == 1);
    CHECK(f.lines_to_bob() == std::vector<std::string>{"hello"});
    CHECK(f.d.view()[0].unacked == 1);
    CHECK(f.alice.events().empty());  // not delivered until bob acks

    // Not acked: sent again after resend_interval.
    f.d.handle_timeout(100 + f.alice.cfg.resend_interval, f.sel);
    CHECK(f.lines_to_bob() == std::vector<std::string>{"hello"});

    f.ack_from_bob(1, 999);  // another run of ours: not for these lines
    CHECK(f.d.view()[0].unacked == 1);
    f.ack_from_bob(1, 77);
    auto echoed = f.alice.events_of<room_ev::Line>();
    REQUIRE(echoed.size() == 1);
    CHECK(echoed[0].outgoing);
    CHECK(echoed[0].text == "hello");
    CHECK(count_ops<store_op::DeleteRoomLines>(f.store()) == 1);
    f.ack_from_bob(1, 77);
    CHECK(f.alice.events().empty());  // once
}

TEST_CASE("the lines of a turn leave in as few packets as fit, and a member that acked our key gets no copy until a resend") {
    Fixture f;
    f.d.on_chats(0, {f.chat(f.relay, 1)}, f.dir.key());
    f.join(0, f.relay);
    (void)f.store();
    (void)f.alice.sent(wire::MsgType::room_line);

    for (auto* t : {"one", "two", "three"}) f.d.send_line(100, room_cmd::Send{f.room, t});
    CHECK(count_ops<store_op::PutRoomLine>(f.store()) == 3);  // stored, then sent in one packet
    std::vector<std::size_t> packets;
    CHECK(f.lines_to_bob(&packets) == std::vector<std::string>{"one", "two", "three"});
    CHECK(packets == std::vector<std::size_t>{3});

    // An ack that names no copy (bob restarted and holds no key): the copy still goes.
    f.tagged_ack_from_bob(3, 77, false);
    CHECK(f.d.view()[0].unacked == 0);
    f.d.send_line(150, room_cmd::Send{f.room, "three and a half"});
    (void)f.store();
    auto sent = f.alice.sent(wire::MsgType::room_line);
    REQUIRE(sent.size() == 1);
    auto body = wire::decode_line_body(wire::decode_room_line(sent[0].second.payload)->tagged);
    REQUIRE(body.ok());
    REQUIRE(body->copies.size() == 1);
    CHECK_FALSE(body->copies[0].sealed.empty());

    // bob's ack names the copy he opened: he holds the line key, and alice's next lines
    // carry an empty copy for him.
    f.tagged_ack_from_bob(4, 77);
    f.d.send_line(200, room_cmd::Send{f.room, "four"});
    (void)f.store();
    sent = f.alice.sent(wire::MsgType::room_line);
    REQUIRE(sent.size() == 1);
    body = wire::decode_line_body(wire::decode_room_line(sent[0].second.payload)->tagged);
    REQUIRE(body.ok());
    REQUIRE(body->copies.size() == 1);
    CHECK(body->copies[0].sealed.empty());
    CHECK(f.lines_to_bob(sent) == std::vector<std::string>{"four"});

    // A resend carries the copy again (a member that restarted lost the key).
    f.d.handle_timeout(200 + f.alice.cfg.resend_interval, f.sel);
    sent = f.alice.sent(wire::MsgType::room_line);
    REQUIRE(sent.size() == 1);
    body = wire::decode_line_body(wire::decode_room_line(sent[0].second.payload)->tagged);
    REQUIRE(body.ok());
    CHECK_FALSE(body->copies[0].sealed.empty());
    f.tagged_ack_from_bob(5, 77);

    // Many lines in one turn: packets within a datagram, every line once and in order.
    std::vector<std::string> want;
    for (int i = 0; i < 200; ++i) {
        want.push_back("line " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 50), 'x'));
        f.d.send_line(300, room_cmd::Send{f.room, want.back()});
    }
    (void)f.store();
    sent.clear();
    for (auto& t : f.alice.sent()) {
        CHECK(t.data.size() <= wire::kMaxDatagram);
        sent.emplace_back(t.to, *wire::parse_packet(t.data));
    }
    packets.clear();
    CHECK(f.lines_to_bob(sent, &packets) == want);
    CHECK(packets.size() < 60);
    CHECK(packets.size() > 1);
}

TEST_CASE("an author's lines are delivered once and in order, gaps held, and an earlier run's stragglers dropped") {
    Fixture f;
    f.joining();

    // Acks go when the turn is drained (the driver polls the store, then transmits).
    auto acks = [&] {
        f.d.send_due_acks();
        std::vector<std::uint64_t> v;
        for (auto& [to, p] : f.alice.sent(wire::MsgType::room_ack)) {
            auto ra = wire::decode_room_ack(p.payload);
            REQUIRE(ra.ok());
            auto a = wire::decode_ack_body(ra->ack.body);
            REQUIRE(a.ok());
            v.push_back(a->upto);
        }
        return v;
    };
    f.d.on_line(f.line_from_bob(5, 2, 1, "two"));
    CHECK(f.alice.events_of<room_ev::Line>().empty());
    CHECK(acks().empty());  // nothing delivered yet
    f.d.on_line(f.line_from_bob(5, 1, 1, "one"));
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"one", "two"});
    CHECK(acks() == std::vector<std::uint64_t>{2});
    f.d.on_line(f.line_from_bob(5, 1, 1, "one"));
    CHECK(f.alice.events_of<room_ev::Line>().empty());
    CHECK(acks() == std::vector<std::uint64_t>{2});  // acked again: the first ack may be lost
    auto ops = f.store();
    REQUIRE(count_ops<store_op::PutRoomCursor>(ops) == 1);

    // Bob restarted: his run 6 numbers from 1 again; run 5 is over.
    f.d.on_line(f.line_from_bob(6, 1, 1, "again"));
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"again"});
    f.d.on_line(f.line_from_bob(5, 3, 1, "late"));
    CHECK(f.alice.events_of<room_ev::Line>().empty());

    // A line that says everything before it was acked by everyone: delivered at once.
    f.d.on_line(f.line_from_bob(6, 9, 9, "nine"));
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"nine"});
    (void)acks();

    // The lines of one turn are acked together, once, after the cursor is stored.
    f.d.on_line(f.line_from_bob(6, 10, 9, "ten"));
    f.d.on_line(f.line_from_bob(6, 11, 9, "eleven"));
    f.d.on_line(f.line_from_bob(6, 12, 9, "twelve"));
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"ten", "eleven", "twelve"});
    CHECK(f.alice.sent(wire::MsgType::room_ack).empty());
    ops = f.store();
    CHECK(count_ops<store_op::PutRoomCursor>(ops) == 1);
    CHECK(acks() == std::vector<std::uint64_t>{12});
}

TEST_CASE("a line encrypted once under its author's key opens with the copy of the key sealed to us") {
    Fixture f;
    f.joining();
    const auto [key, sealed] = f.bobs_line_key();
    f.d.on_line(f.keyed_line_from_bob(5, 1, key, sealed, "one"));
    f.d.on_line(f.keyed_line_from_bob(5, 2, key, sealed, "two"));
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"one", "two"});

    // A ciphertext under another key (or changed on the way) is not shown and not acked.
    core::SymmetricKey other{};
    f.crypto.random(other);
    (void)f.store();
    f.d.on_line(f.keyed_line_from_bob(5, 3, other, sealed, "three"));
    CHECK(f.alice.events_of<room_ev::Line>().empty());
    // bob restarted with a new key: its new copy is opened.
    f.d.on_line(f.keyed_line_from_bob(6, 1, other, f.crypto.seal(ByteView(other), f.alice_kx), "again"));
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"again"});
}

TEST_CASE("a packet of several lines is delivered in order, and an empty copy waits for the resend while we hold no key") {
    Fixture f;
    f.joining();
    const auto [key, sealed] = f.bobs_line_key();
    auto packed = [&](std::uint64_t seq, const Bytes& copy, const std::vector<std::string>& texts) {
        auto rl = f.keyed_line_from_bob(5, seq, key, copy, texts[0]);
        auto b = wire::decode_line_body(rl.line.body);
        REQUIRE(b.ok());
        for (std::size_t i = 1; i < texts.size(); ++i) {
            wire::NextLine n{MessageId{static_cast<std::uint8_t>(i)}, 0, Bytes(texts[i].size() + 16)};
            f.crypto.aead_seal(n.text.data(), Bytes(texts[i].begin(), texts[i].end()), {}, seq + i, key);
            b->next.push_back(std::move(n));
        }
        rl.line = f.bob.env.sign(wire::encode(*b));
        return rl;
    };
    // The acks sent, and whether each names the copy we opened.
    auto acks = [&] {
        f.d.send_due_acks();
        std::size_t n = 0;
        for (auto& [to, p] : f.alice.sent(wire::MsgType::room_ack)) {
            auto a = wire::decode_ack_body(wire::decode_room_ack(p.payload)->ack.body);
            REQUIRE(a.ok());
            CHECK(a->key == Bytes(sealed.end() - wire::kKeyMark, sealed.end()));
            ++n;
        }
        return n;
    };

    f.d.on_line(packed(1, {}, {"one", "two", "three"}));
    CHECK(f.alice.events_of<room_ev::Line>().empty());
    CHECK(f.alice.env.stats().malformed == 0);
    f.d.on_line(packed(1, sealed, {"one", "two", "three"}));
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"one", "two", "three"});
    CHECK(acks() == 1);
    // Now we hold bob's key: an empty copy is enough.
    f.d.on_line(packed(4, {}, {"four", "five"}));
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"four", "five"});
    // A packet that overlaps what we have: only the new lines.
    f.d.on_line(packed(5, {}, {"five", "six"}));
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"six"});
}

TEST_CASE("a member cannot pass a line off as another author's: only the author's tag for us is taken") {
    // carol is a member too: she holds bob's line key (sealed to her) and her own pair
    // keys with alice, but not the key bob and alice share.
    Fixture f;
    Peer carol{"carol", Addr::v4(127, 0, 0, 4, 7000)};
    KxSecretKey carol_sk{};
    f.crypto.random(carol_sk);
    const KxPublicKey carol_pk = f.crypto.kx_public(carol_sk);
    f.join_room(&carol, carol_pk, {});

    core::SymmetricKey key{};
    f.crypto.random(key);
    const Bytes sealed = f.crypto.seal(ByteView(key), f.alice_kx);
    auto as_bob = [&](std::uint64_t seq, const std::string& text, const core::SymmetricKey* tag_key) {
        return f.tagged_line_from_bob(seq, key, sealed, text, tag_key);
    };
    auto bob_keys = make_pair_keys(f.crypto, f.room, f.bob_kx_sk, "bob", f.alice_kx, "alice");
    auto carol_keys = make_pair_keys(f.crypto, f.room, carol_sk, "carol", f.alice_kx, "alice");
    REQUIRE(bob_keys.has_value());
    REQUIRE(carol_keys.has_value());
    const auto bad = f.alice.env.stats().bad_signature;

    f.d.on_line(as_bob(1, "carol's words under her own tag", &carol_keys->to));
    f.d.on_line(as_bob(1, "carol's words with no tag and no signature", nullptr));
    auto zero_sig = f.keyed_line_from_bob(5, 1, key, sealed, "carol's words with an empty signature");
    zero_sig.line.sig = {};
    f.d.on_line(zero_sig);
    auto tagged_for_bob = as_bob(1, "carol's words, bob's tag for alice moved onto them", &bob_keys->to);
    auto bobs = as_bob(1, "bob's words", &bob_keys->to);
    tagged_for_bob.tags = bobs.tags;
    f.d.on_line(tagged_for_bob);
    CHECK(f.alice.events_of<room_ev::Line>().empty());
    CHECK(f.alice.env.stats().bad_signature == bad + 4);

    f.d.on_line(bobs);
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"bob's words"});
    f.d.on_line(bobs);  // a replay is not shown again
    CHECK(f.alice.events_of<room_ev::Line>().empty());
}

TEST_CASE("the relay's hop packets open only under the hop's key, once each") {
    Fixture f;
    KxSecretKey relay_sk{};
    f.crypto.random(relay_sk);
    f.join_room(nullptr, {}, f.crypto.kx_public(relay_sk));
    // The relay's end of alice's hop, made from its key and the one alice joined with.
    auto hop = make_hop(f.crypto, relay_sk, f.alice_kx, f.room, "alice");
    REQUIRE(hop.has_value());

    core::SymmetricKey key{};
    f.crypto.random(key);
    auto bob_keys = make_pair_keys(f.crypto, f.room, f.bob_kx_sk, "bob", f.alice_kx, "alice");
    REQUIRE(bob_keys.has_value());
    const Bytes line = wire::encode(
        f.tagged_line_from_bob(1, key, f.crypto.seal(ByteView(key), f.alice_kx), "through the hop", &bob_keys->to));
    const auto before = f.alice.env.stats();

    // An outsider who knows the hop's index but not its key.
    Hop forged = *hop;
    f.crypto.random(forged.key);
    f.d.on_hop(hop_seal(f.crypto, forged, wire::MsgType::room_line, line));
    // A packet changed on the way, and one for no hop of ours.
    Bytes changed = hop_seal(f.crypto, *hop, wire::MsgType::room_line, line);
    changed[changed.size() / 2] ^= 1;
    f.d.on_hop(changed);
    Hop elsewhere = *hop;
    elsewhere.index ^= 0x80000000u;
    f.d.on_hop(hop_seal(f.crypto, elsewhere, wire::MsgType::room_line, line));
    CHECK(f.alice.events_of<room_ev::Line>().empty());
    CHECK(f.alice.env.stats().bad_signature == before.bad_signature + 2);
    CHECK(f.alice.env.stats().unsolicited == before.unsolicited + 1);

    const Bytes good = hop_seal(f.crypto, *hop, wire::MsgType::room_line, line);
    f.d.on_hop(good);
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"through the hop"});
    f.d.on_hop(good);  // replayed: dropped before it is opened
    CHECK(f.alice.env.stats().replayed == before.replayed + 1);
    CHECK(f.alice.events_of<room_ev::Line>().empty());
}

TEST_CASE("a relay that takes hops: our lines and acks go to it on the hop, unsigned, and a hop it does not know is joined again") {
    Fixture f;
    KxSecretKey relay_sk{};
    f.crypto.random(relay_sk);
    f.d.on_chats(0, {f.chat(f.relay, 1)}, f.dir.key());
    f.d.handle_timeout(0, f.sel);
    auto joins = f.alice.sent(wire::MsgType::room_join);
    REQUIRE(joins.size() == 1);
    auto j = wire::decode_room_join(joins[0].second.payload);
    REQUIRE(j.ok());
    f.alice_kx = wire::decode_member_key(j->member_key.body)->kx;
    wire::RoomRoster ro{f.room, 1, {j->member_key, f.bob.env.sign(wire::encode(wire::MemberKey{f.room, "bob", f.bob_kx_pk}))},
                        f.crypto.kx_public(relay_sk), true, {}};
    f.d.on_roster(0, f.alice.receive(0, f.relay, wire::MsgType::room_roster, wire::encode(ro)), ro);
    (void)f.alice.events();
    // The relay's end of alice's hop.
    auto hop = make_hop(f.crypto, relay_sk, f.alice_kx, f.room, "alice");
    REQUIRE(hop.has_value());
    // What alice sends the relay: each a hop packet that opens under the hop's up key only.
    auto from_alice = [&](wire::MsgType want) {
        std::vector<Bytes> v;
        for (auto& t : f.alice.sent()) {
            CHECK(t.to == f.relay.addr);
            CHECK_FALSE(wire::parse_packet(t.data).ok());  // nothing signed
            auto d = wire::parse_channel_data(t.data);
            REQUIRE(d.ok());
            CHECK(d->index == hop->index);
            Hop down_only = *hop;
            down_only.up = down_only.key;  // an end that opens with the relay's own key
            Bytes plain;
            CHECK(hop_open(f.crypto, down_only, HopEnd::relay, t.data, *d, plain) == HopDrop::forged);
            REQUIRE(hop_open(f.crypto, *hop, HopEnd::relay, t.data, *d, plain) == HopDrop::none);
            CHECK(hop_open(f.crypto, *hop, HopEnd::relay, t.data, *d, plain) == HopDrop::replayed);
            REQUIRE(plain[0] == static_cast<std::uint8_t>(want));
            v.emplace_back(plain.begin() + 1, plain.end());
        }
        return v;
    };

    f.d.send_line(1, room_cmd::Send{f.room, "up the hop"});
    (void)f.store();
    auto lines = from_alice(wire::MsgType::room_line);
    REQUIRE(lines.size() == 1);
    auto rl = wire::decode_room_line(lines[0]);
    REQUIRE(rl.ok());
    CHECK(rl->room == f.room);

    auto [key, sealed] = f.bobs_line_key();
    auto bob_keys = make_pair_keys(f.crypto, f.room, f.bob_kx_sk, "bob", f.alice_kx, "alice");
    REQUIRE(bob_keys.has_value());
    f.d.on_line(f.tagged_line_from_bob(1, key, sealed, "down", &bob_keys->to));
    (void)f.store();
    auto acks = from_alice(wire::MsgType::room_ack);
    REQUIRE(acks.size() == 1);
    auto ra = wire::decode_room_ack(acks[0]);
    REQUIRE(ra.ok());
    CHECK(ra->author == "bob");

    // The relay restarted: it does not know the hop, says so, and alice joins again.
    wire::RoomRefused other{{}, "not joined", hop->index ^ 1u};
    f.d.on_refused(5, f.alice.receive(5, f.relay, wire::MsgType::room_refused, wire::encode(other)), other);
    CHECK(f.d.view()[0].joined);
    wire::RoomRefused forgot{{}, "not joined", hop->index};
    f.d.on_refused(5, f.alice.receive(5, f.relay, wire::MsgType::room_refused, wire::encode(forgot)), forgot);
    CHECK_FALSE(f.d.view()[0].joined);
    f.d.handle_timeout(5, f.sel);
    CHECK(f.alice.sent(wire::MsgType::room_join).size() == 1);
}

TEST_CASE("a relay that forgot the room is joined again; a refusal for any other reason leaves the room") {
    Fixture f;
    f.d.on_chats(0, {f.chat(f.relay, 1)}, f.dir.key());
    f.join(0, f.relay);
    (void)f.alice.events();
    wire::RoomRefused forgot{f.room, "not joined"};
    f.d.on_refused(10, f.alice.receive(10, f.relay, wire::MsgType::room_refused, wire::encode(forgot)), forgot);
    CHECK_FALSE(f.d.view()[0].joined);
    f.d.handle_timeout(10, f.sel);
    CHECK(f.alice.sent(wire::MsgType::room_join).size() == 1);

    wire::RoomRefused full{f.room, "room full"};
    f.d.on_refused(20, f.alice.receive(20, f.relay, wire::MsgType::room_refused, wire::encode(full)), full);
    CHECK(f.d.view().empty());
    CHECK(f.alice.events_of<room_ev::RoomLeft>().size() == 1);
    CHECK(count_ops<store_op::DeleteRoom>(f.store()) == 1);
    // The directory hears of the leave until it stops listing the chat.
    f.d.repeat_leaves(f.dir.addr);
    CHECK(f.alice.sent(wire::MsgType::chat_leave).size() == 1);
    f.d.on_chats(30, {}, f.dir.key());
    f.d.repeat_leaves(f.dir.addr);
    CHECK(f.alice.sent().empty());
}

TEST_CASE("a newer ticket moves the room: leave the old relay, join the new one, resend what is unacked") {
    Fixture f;
    f.d.on_chats(0, {f.chat(f.relay, 1)}, f.dir.key());
    f.join(0, f.relay);
    f.d.send_line(50, room_cmd::Send{f.room, "before the move"});
    (void)f.alice.sent();
    (void)f.alice.events();

    auto moved = f.chat(f.relay2, 2);
    moved.reason = static_cast<std::uint8_t>(MoveReason::better);
    moved.old_ms = 31;
    moved.new_ms = 12;
    f.d.on_chats(100, {moved}, f.dir.key());
    auto leaves = f.alice.sent(wire::MsgType::room_leave);
    REQUIRE(leaves.size() == 1);
    CHECK(leaves[0].first == f.relay.addr);
    auto ev = f.alice.events_of<room_ev::RoomMoved>();
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].to == f.relay2.addr);
    CHECK(ev[0].reason == MoveReason::better);
    CHECK(ev[0].new_ms == 12u);
    CHECK(f.d.view()[0].epoch == 2);
    // The new relay is measured.
    CHECK(f.m.view().size() == 1);

    f.join(100, f.relay2);
    CHECK(f.lines_to_bob() == std::vector<std::string>{"before the move"});

    // An older ticket than ours is held: it goes with the heartbeat.
    CHECK(f.d.on_chats(200, {f.chat(f.relay, 1)}, f.dir.key()));
    wire::ClientHeartbeat hb;
    f.d.add_held(hb);
    CHECK(hb.held.size() == 1);
}

TEST_CASE("a room kept in the store is resumed: its unacked lines go again in their run once joined") {
    RoomSnapshot snap;
    Fixture probe_room;  // only to make a ticket
    RoomRecord rec;
    rec.room = probe_room.room;
    rec.ticket = probe_room.chat(probe_room.relay, 1).ticket;
    rec.members = {"alice", "bob"};
    rec.required = {"bob"};
    rec.run = 55;
    rec.next_seq = 3;
    snap.rooms.push_back(rec);
    snap.lines.push_back(RoomLineRecord{rec.room, 2, MessageId{}, 40, "kept"});
    snap.cursors.push_back(RoomCursorRecord{rec.room, "bob", 9, 4});

    Fixture f(snap);
    f.room = rec.room;
    auto notices = f.alice.events_of<room_ev::Notice>();
    REQUIRE(notices.size() == 1);
    CHECK(notices[0].text.find("1 line(s) from before") != std::string::npos);
    CHECK(f.d.view()[0].unacked == 1);
    f.join(0, f.relay);
    CHECK(f.lines_to_bob() == std::vector<std::string>{"kept"});
    f.ack_from_bob(2, 55);  // the stored run, not this process's
    CHECK(texts(f.alice.events_of<room_ev::Line>()) == std::vector<std::string>{"kept"});

    // Quitting leaves a room with nothing to deliver.
    f.d.quit();
    CHECK(f.d.view().empty());
}
