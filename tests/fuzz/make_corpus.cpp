// Writes the seed corpus of every fuzz target: make_corpus OUT_DIR creates
// OUT_DIR/fuzz_packet, fuzz_payload, fuzz_frames and fuzz_node. The seeds are valid
// packets and payloads of every type, interesting invalid ones, and node scenarios
// whose answers carry the nonces and keys the node under fuzz_node really uses (this
// program runs the same node to learn them). README.md says how the committed corpus
// was made from these seeds and a fuzzing run.

#include "corpus_file.hpp"
#include "node_harness.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

using namespace dc;
using namespace dc::fuzz;
using wire::MsgType;

namespace {

namespace fs = std::filesystem;

fs::path out_dir;
std::size_t written = 0;

void put(const std::string& target, const std::string& name, ByteView data) {
    fuzz::write_corpus_file(out_dir / target, name, data, "make_corpus");
    ++written;
}

Bytes cat(Bytes a, ByteView b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// ---------------------------------------------------------------------------
// Values

KxPublicKey kx_of(const Who& w) {
    KxSecretKey sk{};
    sk.fill(static_cast<std::uint8_t>(w.seed + 0x10));
    return crypto::kx_public(sk);
}

wire::Declaration declaration(const Who& w, bool online, std::vector<std::string> links, std::uint64_t seq = 1) {
    wire::Declaration d;
    d.user = w.name;
    d.key = w.pk;
    d.session = w.session;
    d.seq = seq;
    d.online = online;
    d.addr = w.addr;
    d.issued = kStart - 1000;
    d.links = std::move(links);
    d.kx = kx_of(w);
    return d;
}

wire::SignedBlob signed_decl(const Who& w, bool online, std::vector<std::string> links, std::uint64_t seq = 1) {
    return wire::sign_blob(wire::encode(declaration(w, online, std::move(links), seq)), w.sk());
}

wire::Declare declare(const wire::SignedBlob& decl, std::uint8_t hops, bool reply, std::uint64_t nonce = 0) {
    wire::Declare p;
    p.decl = decl;
    p.hops = hops;
    p.reply = reply;
    p.nonce = nonce;
    return p;
}

wire::ChatMessage chat_message(const Who& from, const std::string& to, std::uint8_t id, std::string text) {
    wire::ChatMessage m;
    m.id = MessageId{id, 0xc4};
    m.from = from.name;
    m.to = to;
    m.sent = kStart - 10;
    m.text = std::move(text);
    return m;
}

wire::SignedBlob signed_chat(const Who& from, const std::string& to, std::uint8_t id, std::string text) {
    return wire::sign_blob(wire::encode(chat_message(from, to, id, std::move(text))), from.sk());
}

// A chat sealed to kx (or, for a trusting node, left in the clear).
wire::Chat chat(const wire::SignedBlob& msg, const KxPublicKey& kx, bool seal = true) {
    wire::Chat c;
    const Bytes plain = wire::encode(msg);
    c.sealed = seal ? crypto::seal(plain, kx) : plain;
    c.kx = kx;
    return c;
}

wire::DeliverKnownList known_list(std::uint64_t nonce, std::vector<wire::SignedBlob> decls) {
    wire::DeliverKnownList l;
    l.nonce = nonce;
    for (auto& d : decls) {
        auto v = wire::decode_declaration(d.body);
        l.sessions.push_back(wire::KnownSession{d, v ? v->addr : Addr{}, true, kStart - 100});
    }
    return l;
}

wire::RequestPing request_ping(const Who& from, const std::string& target, std::uint8_t hops) {
    wire::RequestPing p;
    p.target_user = target;
    p.requester_user = from.name;
    p.requester_session = from.session;
    p.requester_addr = from.addr;
    p.nonce = 77;
    p.hops = hops;
    return p;
}

// A packet from w, signed by w (or by `signer` when given: a forgery).
Bytes packet(const Who& w, MsgType t, ByteView payload, const Who* signer = nullptr) {
    wire::Header h;
    h.type = t;
    h.from_user = w.name;
    h.from_session = w.session;
    h.from_port = w.addr.port;
    h.from_key = w.pk;
    return wire::encode_packet(h, payload, (signer ? *signer : w).sk());
}

// An unsigned packet (zero signature), which only a trusting node accepts.
Bytes unsigned_packet(const std::string& user, const SessionId& session, MsgType t, ByteView payload,
                      const PublicKey& key = {}) {
    wire::Header h;
    h.type = t;
    h.from_user = user;
    h.from_session = session;
    h.from_port = 7300;
    h.from_key = key;
    return wire::assemble_packet(wire::packet_header(h, payload), Signature{});
}

// ---------------------------------------------------------------------------
// A minimal msgpack writer for invalid inputs.

Bytes head(std::uint8_t tag, std::uint64_t n, int width) {
    Bytes o{tag};
    for (int i = width - 1; i >= 0; --i) o.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    return o;
}

Bytes mp_bin(ByteView b) { return cat(head(0xc4, b.size(), 1), b); }
Bytes mp_str(std::string_view s) { return cat({static_cast<std::uint8_t>(0xa0 | s.size())}, bytes(s)); }

// ---------------------------------------------------------------------------
// fuzz_payload

struct Samples {
    wire::SignedBlob alice_decl = signed_decl(kAlice, true, {"self", "carol"});
    wire::SignedBlob carol_decl = signed_decl(kCarol, true, {"alice", "dave"});
    wire::SignedBlob alice_chat = signed_chat(kAlice, "self", 1, "hello self");
};

void payloads(const Samples& s) {
    const std::string t = "fuzz_payload";
    put(t, "declaration", s.alice_decl.body);
    put(t, "declaration_v6_offline", wire::encode(declaration(kCarol, false, {"alice", "bob", "dave"}, 9)));
    put(t, "chat_message", s.alice_chat.body);
    put(t, "signed_blob", wire::encode(s.alice_chat));
    put(t, "declare", wire::encode(declare(s.alice_decl, 1, true, 5)));
    put(t, "request_ping", wire::encode(request_ping(kAlice, "self", 1)));
    put(t, "request_ping_anyone", wire::encode(request_ping(kBob, "", 0)));
    put(t, "request_user_list", wire::encode(wire::RequestUserList{9, {"carol", "dave"}, {}}));
    put(t, "deliver_known_list", wire::encode(known_list(3, {s.alice_decl, s.carol_decl})));
    put(t, "request_user_list_page", wire::encode(wire::RequestUserList{10, {"carol"}, "bob"}));
    auto page = known_list(6, {s.alice_decl});
    page.next = "alice";
    put(t, "deliver_known_list_page", wire::encode(page));
    put(t, "chat", wire::encode(chat(s.alice_chat, kx_of(kSelf))));
    put(t, "chat_ack", wire::encode(wire::ChatAck{MessageId{1, 2, 3}}));
    put(t, "ping", wire::encode(wire::Ping{0x1122334455667788ull}));
    put(t, "pong", wire::encode(wire::Pong{1}));

    // Invalid ones.
    const Bytes d = s.alice_decl.body;
    put(t, "bad_truncated", ByteView(d).first(d.size() / 2));
    put(t, "bad_trailing", cat(d, Bytes{0xc0}));
    put(t, "bad_ext", Bytes{0x81, 0x00, 0xd4, 0x01, 0x02});
    put(t, "bad_deep", Bytes{0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0});
    put(t, "bad_huge_array", Bytes{0x81, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0});
    put(t, "bad_huge_map", Bytes{0xdf, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00});
    put(t, "bad_huge_bin", Bytes{0x81, 0x00, 0xc6, 0xff, 0xff, 0xff, 0xf0, 0x00});
    put(t, "bad_duplicate_key", Bytes{0x82, 0x00, 0x01, 0x00, 0x02});
    put(t, "unknown_key", Bytes{0x82, 0x00, 0x05, 0x3f, 0xc0});
    Bytes negative_time = cat(Bytes{0x84, 0x00}, mp_bin(MessageId{}));  // a chat message sent before 1970
    negative_time = cat(cat(negative_time, Bytes{0x01}), mp_str("bob"));
    negative_time = cat(cat(negative_time, Bytes{0x02}), mp_str("al"));
    negative_time = cat(cat(negative_time, Bytes{0x03}), head(0xd3, static_cast<std::uint64_t>(-5), 8));
    put(t, "negative_time", negative_time);
    put(t, "bad_key_type", Bytes{0x81, 0xa1, 'x', 0x00});
    put(t, "bad_float", Bytes{0x81, 0x00, 0xca, 0x3f, 0x80, 0x00, 0x00});
    put(t, "bad_addr_family", Bytes{0x81, 0x05, 0x93, 0x05, 0xc4, 0x00, 0x00});
    put(t, "empty", Bytes{});
    put(t, "empty_map", Bytes{0x80});
}

// ---------------------------------------------------------------------------
// fuzz_packet

// The signed header of a packet made by encode_packet: [0x93, 1, bin header, bin sig].
Bytes header_of(const Bytes& pkt) {
    std::size_t pos = 2, n = 0;
    const std::uint8_t tag = pkt[pos++];
    const int width = tag == 0xc4 ? 1 : tag == 0xc5 ? 2 : 4;
    for (int i = 0; i < width; ++i) n = n << 8 | pkt[pos++];
    return Bytes(pkt.begin() + static_cast<std::ptrdiff_t>(pos), pkt.begin() + static_cast<std::ptrdiff_t>(pos + n));
}

Bytes mode(PacketMode m, ByteView rest) { return cat({static_cast<std::uint8_t>(m)}, rest); }

void packets(const Samples& s) {
    const std::string t = "fuzz_packet";
    struct Sample {
        const char* name;
        MsgType type;
        Bytes payload;
    };
    const std::vector<Sample> all = {
        {"declare_online", MsgType::declare_online, wire::encode(declare(s.alice_decl, 1, true))},
        {"declare_offline", MsgType::declare_offline,
         wire::encode(declare(signed_decl(kAlice, false, {"self"}, 2), 0, false))},
        {"request_ping", MsgType::request_ping, wire::encode(request_ping(kAlice, "carol", 1))},
        {"request_user_list", MsgType::request_user_list, wire::encode(wire::RequestUserList{4, {"dave"}, {}})},
        {"deliver_known_list", MsgType::deliver_known_list, wire::encode(known_list(4, {s.carol_decl}))},
        {"request_user_list_page", MsgType::request_user_list,
         wire::encode(wire::RequestUserList{5, {"dave"}, "carol"})},
        {"chat", MsgType::chat, wire::encode(chat(s.alice_chat, kx_of(kSelf)))},
        {"chat_ack", MsgType::chat_ack, wire::encode(wire::ChatAck{MessageId{7}})},
        {"ping", MsgType::ping, wire::encode(wire::Ping{12})},
        {"pong", MsgType::pong, wire::encode(wire::Pong{12})},
        {"hold", MsgType::hold, wire::encode(wire::Hold{"bob", MessageId{9}, Bytes(80, 0x5a), 3})},
        {"hold_ack", MsgType::hold_ack, wire::encode(wire::HoldAck{"bob", MessageId{9}, false, "full"})},
        {"hand_over", MsgType::hand_over, wire::encode(wire::HandOver{Bytes(80, 0x5a), 3})},
    };
    for (const auto& x : all) {
        const Bytes pkt = packet(kAlice, x.type, x.payload);
        put(t, std::string("raw_") + x.name, mode(PacketMode::raw, pkt));
        put(t, std::string("header_") + x.name, mode(PacketMode::signed_header, header_of(pkt)));
        PacketSpec spec;
        spec.type = static_cast<std::uint8_t>(x.type);
        spec.user = "alice";
        spec.session = kAlice.session;
        spec.port = 7300;
        spec.keys = 1 | 1 << 2;  // signed by alice, naming alice's key
        spec.payload = x.payload;
        put(t, std::string("spec_") + x.name, mode(PacketMode::structured, spec.write()));
    }
    const Bytes good = packet(kBob, MsgType::ping, wire::encode(wire::Ping{3}));
    Bytes bad_sig = good;
    bad_sig.back() ^= 1;
    put(t, "raw_bad_signature", mode(PacketMode::raw, bad_sig));
    put(t, "raw_forged", mode(PacketMode::raw, packet(kAlice, MsgType::ping, wire::encode(wire::Ping{3}), &kBob)));
    Bytes v2 = good;
    v2[1] = 2;
    put(t, "raw_version_2", mode(PacketMode::raw, v2));
    put(t, "raw_version_only", mode(PacketMode::raw, Bytes{0x91, 0x01}));
    put(t, "raw_unknown_type", mode(PacketMode::raw, unsigned_packet("bob", kBob.session, MsgType{13}, {})));
    put(t, "raw_unsigned", mode(PacketMode::raw, unsigned_packet("dave", SessionId{}, MsgType::pong, {})));
    put(t, "raw_bad_user", mode(PacketMode::raw, unsigned_packet("no way", SessionId{}, MsgType::pong, {})));
    PacketSpec bad;
    bad.type = 0;
    bad.user = "bad user!";
    put(t, "spec_invalid", mode(PacketMode::structured, bad.write()));
}

// ---------------------------------------------------------------------------
// fuzz_frames

Bytes frames_input(std::uint8_t repeats, const Bytes& sizes, ByteView stream) {
    Bytes out{static_cast<std::uint8_t>((sizes.size() & 15) | ((repeats - 1) & 7) << 4)};
    out.insert(out.end(), sizes.begin(), sizes.end());
    out.insert(out.end(), stream.begin(), stream.end());
    return out;
}

void frames(const Samples& s) {
    const std::string t = "fuzz_frames";
    const Bytes a = wire::frame(packet(kAlice, MsgType::ping, wire::encode(wire::Ping{1})));
    const Bytes b = wire::frame(packet(kBob, MsgType::declare_online, wire::encode(declare(s.carol_decl, 1, false))));
    const Bytes tiny = wire::frame(Bytes{0xc0});
    const Bytes ab = cat(cat(a, b), tiny);
    put(t, "whole", frames_input(1, {}, ab));
    put(t, "bytewise", frames_input(1, {1}, ab));
    put(t, "chunks", frames_input(1, {3, 1, 7, 0, 200}, ab));
    put(t, "repeated", frames_input(8, {5, 250}, ab));
    put(t, "partial_tail", frames_input(1, {2}, cat(a, ByteView(b).first(10))));
    put(t, "zero_length", frames_input(1, {}, cat(tiny, Bytes{0, 0, 0, 0, 1, 2})));
    put(t, "too_long", frames_input(1, {3}, cat(tiny, Bytes{0x00, 0x10, 0x00, 0x01, 0xaa})));
    put(t, "max_length_header", frames_input(2, {}, Bytes{0x00, 0x10, 0x00, 0x00, 0xaa}));
    put(t, "short_header", frames_input(1, {}, Bytes{0x00, 0x00, 0x01}));
}

// ---------------------------------------------------------------------------
// fuzz_node

struct Scenario {
    std::uint8_t flags = 0;
    std::vector<Record> records;

    // A datagram from kSources[source].
    void datagram(std::uint8_t source, ByteView data, std::uint8_t dt = 4) {
        records.push_back(Record{source, dt, Bytes(data.begin(), data.end())});
    }
    void datagram(const Who& w, ByteView data, std::uint8_t dt = 4) { datagram(source_of(w), data, dt); }
    void from(const Who& w, MsgType t, ByteView payload, std::uint8_t dt = 4) { datagram(w, packet(w, t, payload), dt); }
    static std::uint8_t source_of(const Who& w) { return &w == &kAlice ? 0 : &w == &kBob ? 1 : &w == &kCarol ? 2 : 3; }
    void command(std::uint8_t kind, Bytes data, std::uint8_t dt = 4) {
        records.push_back(Record{kind, dt, std::move(data)});
    }

    // Runs the node on the records so far; returns it with everything it sent.
    std::unique_ptr<NodeHarness> run() const {
        auto h = std::make_unique<NodeHarness>();
        for (const auto& r : h->start(write_node_input(flags, records))) h->run(r, [] {});
        return h;
    }

    // The payloads of type t the node sent so far.
    template <typename T, typename Decode>
    std::vector<T> sent(MsgType t, Decode decode) const {
        std::vector<T> out;
        const auto h = run();
        for (const auto& x : h->sent) {
            auto p = wire::parse_packet(x.data);
            if (!p || p->header.type != t) continue;
            if (auto v = decode(p->payload)) out.push_back(*v);
        }
        return out;
    }

    // The node's current sealing key, from the newest declaration it sent.
    KxPublicKey self_kx() const {
        KxPublicKey kx{};
        for (const auto& d : sent<wire::Declare>(MsgType::declare_online, wire::decode_declare))
            if (auto v = wire::decode_declaration(d.decl.body)) kx = v->kx;
        if (kx == KxPublicKey{}) die("make_corpus", "the node declared no sealing key");
        return kx;
    }

    std::uint64_t last_nonce() const {
        auto v = sent<wire::RequestUserList>(MsgType::request_user_list, wire::decode_request_user_list);
        if (v.empty()) die("make_corpus", "the node asked for no user list");
        return v.back().nonce;
    }

    MessageId last_chat_id() const {
        // Our own chats are sealed to alice's kx_of() key: open them as alice would.
        KxSecretKey sk{};
        sk.fill(static_cast<std::uint8_t>(kAlice.seed + 0x10));
        for (const auto& c : sent<wire::Chat>(MsgType::chat, wire::decode_chat))
            if (auto plain = crypto::open_sealed(c.sealed, crypto::KxKeyPair{kx_of(kAlice), sk}))
                if (auto blob = wire::decode_signed_blob(*plain))
                    if (auto m = wire::decode_chat_message(blob->body)) return m->id;
        die("make_corpus", "the node sent alice no chat");
    }

    void write(const std::string& name) const { put("fuzz_node", name, write_node_input(flags, records)); }
};

void nodes(const Samples& s) {
    {  // A contact comes online, is probed, chats, receives a chat, goes offline.
        Scenario sc;
        sc.flags = kAliceContact;
        sc.from(kAlice, MsgType::declare_online, wire::encode(declare(s.alice_decl, 1, true)));
        sc.from(kAlice, MsgType::ping, wire::encode(wire::Ping{99}));
        sc.from(kAlice, MsgType::chat, wire::encode(chat(s.alice_chat, sc.self_kx())));
        sc.from(kAlice, MsgType::chat, wire::encode(chat(s.alice_chat, sc.self_kx())));  // a duplicate
        sc.command(13, cat(Bytes{0}, bytes("hi alice")));                               // \chat alice hi alice
        sc.from(kAlice, MsgType::chat_ack, wire::encode(wire::ChatAck{sc.last_chat_id()}), 8);
        sc.from(kAlice, MsgType::pong, wire::encode(wire::Pong{1}), 80);
        sc.from(kAlice, MsgType::declare_offline,
                wire::encode(declare(signed_decl(kAlice, false, {"self", "carol"}, 2), 1, false)), 200);
        sc.write("contact_lifecycle");
    }
    {  // Holding: a contact leaves a message with us, answers one of ours, hands one over.
        Scenario sc;
        sc.flags = kAliceContact;
        sc.from(kAlice, MsgType::declare_online, wire::encode(declare(s.alice_decl, 1, true)));
        sc.from(kAlice, MsgType::hold, wire::encode(wire::Hold{"carol", MessageId{4}, Bytes(120, 0x33), 1}));
        sc.from(kAlice, MsgType::hold, wire::encode(wire::Hold{"self", MessageId{5}, Bytes(120, 0x34), 0}));
        sc.from(kAlice, MsgType::hold_ack, wire::encode(wire::HoldAck{"carol", MessageId{6}, true, {}}));
        sc.from(kAlice, MsgType::hand_over, wire::encode(wire::HandOver{Bytes(120, 0x35), 2}));
        sc.write("contact_holding");
    }
    {  // A server answers the start-up user list; then asks for ours and pings.
        Scenario sc;
        sc.flags = kBobServer;
        sc.from(kBob, MsgType::deliver_known_list,
                wire::encode(known_list(sc.last_nonce(), {s.alice_decl, s.carol_decl,
                                                          signed_decl(kBob, true, {"self"})})));
        sc.from(kBob, MsgType::request_user_list, wire::encode(wire::RequestUserList{5, {"alice", "dave"}, {}}));
        sc.from(kBob, MsgType::request_ping, wire::encode(request_ping(kBob, "self", 0)));
        sc.from(kCarol, MsgType::request_ping, wire::encode(request_ping(kCarol, "alice", 1)));
        sc.write("server_lists");
    }
    {  // A super-client hears everyone; declarations are forwarded and exploded.
        Scenario sc;
        sc.flags = kSuperClient | kAliceContact;
        sc.from(kAlice, MsgType::declare_online, wire::encode(declare(s.alice_decl, 1, true)));
        auto fwd = declare(s.carol_decl, 1, false);
        fwd.seen = kCarol.addr;
        sc.from(kBob, MsgType::declare_online, wire::encode(fwd));
        auto boom = declare(signed_decl(kBob, true, {"carol"}), 1, false, 31);
        boom.explode = true;
        sc.from(kBob, MsgType::declare_online, wire::encode(boom));
        sc.command(15, {});  // \explode
        sc.write("super_client_explode");
    }
    {  // Commands with nobody around, then a stranger and garbage.
        Scenario sc;
        sc.flags = kBobServer;
        sc.command(12, {1});                         // \add bob
        sc.command(13, cat(Bytes{2}, bytes("yo")));  // \chat carol yo
        sc.command(14, {3});                         // \ping the stranger
        sc.datagram(kCarol, Bytes{0x93, 0x01, 0xc4});
        sc.datagram(kCarol, bytes("not a packet at all"));
        sc.from(kCarol, MsgType::pong, wire::encode(wire::Pong{8}), 255);
        sc.write("commands_and_garbage");
    }
    {  // Someone claims to be alice (pinned) with bob's key; a replayed old declaration.
        Scenario sc;
        sc.flags = kAliceContact;
        sc.datagram(kBob, packet(kAlice, MsgType::declare_online, wire::encode(declare(s.alice_decl, 1, true)), &kBob));
        wire::Header h{MsgType::ping, "alice", kAlice.session, 7300, kBob.pk};
        sc.datagram(kBob, wire::encode_packet(h, wire::encode(wire::Ping{1}), kBob.sk()));
        sc.from(kAlice, MsgType::declare_online,
                wire::encode(declare(signed_decl(kAlice, true, {"self"}, 5), 1, false)));
        sc.from(kAlice, MsgType::declare_online, wire::encode(declare(s.alice_decl, 1, false)));
        sc.command(11, {1, 2});  // \trust alice <bob's fingerprint>
        sc.from(kAlice, MsgType::ping, wire::encode(wire::Ping{2}));
        sc.write("wrong_key_and_stale");
    }
    {  // Small limits: more sessions, users and waiting messages than allowed.
        Scenario sc;
        sc.flags = kSmallLimits | kAliceContact;
        for (std::uint8_t i = 0; i < 3; ++i) {
            auto d = declaration(kAlice, true, {"self", "bob", "carol"}, 1);
            d.session[7] = static_cast<std::uint8_t>(10 + i);
            d.addr.port = static_cast<std::uint16_t>(7400 + i);
            sc.from(kAlice, MsgType::declare_online, wire::encode(declare(wire::sign_blob(wire::encode(d), kAlice.sk()), 1, false)));
        }
        sc.from(kAlice, MsgType::deliver_known_list, wire::encode(known_list(1, {s.carol_decl})));
        sc.from(kBob, MsgType::declare_online, wire::encode(declare(signed_decl(kBob, true, {"self", "dave"}), 1, true)));
        for (int i = 0; i < 3; ++i) sc.command(13, cat(Bytes{0}, bytes("queued")));
        sc.write("small_limits");
    }
    {  // Rows from the store: alice's session and a message for her, then her ack.
        Scenario sc;
        sc.flags = kStoredRows | kAliceContact;
        sc.records.push_back(Record{1, 0, s.alice_decl.body});
        sc.records.push_back(Record{0, 0, signed_chat(kSelf, "alice", 1, "stored").body});
        sc.from(kAlice, MsgType::chat_ack, wire::encode(wire::ChatAck{MessageId{1}}), 100);
        sc.write("stored_rows");
    }
    {  // A trusting node: unsigned packets from made-up users reach deep.
        Scenario sc;
        sc.flags = kTrusting | kAliceContact;
        auto dave = declaration(kAlice, true, {"self"});
        dave.user = "dave";
        const wire::SignedBlob dave_decl{wire::encode(dave), {}};
        sc.datagram(std::uint8_t{3}, unsigned_packet("dave", kAlice.session, MsgType::declare_online,
                                                     wire::encode(declare(dave_decl, 1, true)), kAlice.pk));
        sc.datagram(std::uint8_t{3}, unsigned_packet("alice", kAlice.session, MsgType::declare_online,
                                                     wire::encode(declare(s.alice_decl, 1, true)), kAlice.pk));
        auto msg = chat_message(kAlice, "self", 9, "unsigned hello");
        sc.datagram(std::uint8_t{3},
                    unsigned_packet("alice", kAlice.session, MsgType::chat,
                                    wire::encode(chat(wire::SignedBlob{wire::encode(msg), {}}, sc.self_kx(), false)),
                                    kAlice.pk));
        sc.datagram(std::uint8_t{3}, unsigned_packet("dave", kAlice.session, MsgType::request_user_list,
                                                     wire::encode(wire::RequestUserList{2, {"alice"}, {}}), kAlice.pk));
        sc.command(13, cat(Bytes{3}, bytes("to dave")));
        sc.write("trusting");
        // The same unsigned packets to a node that checks signatures: all dropped.
        sc.flags &= static_cast<std::uint8_t>(~kTrusting);
        sc.write("unsigned_claims");
    }
    {  // Time passes for a contact who stops answering.
        Scenario sc;
        sc.flags = kAliceContact | kBobServer;
        sc.from(kAlice, MsgType::declare_online, wire::encode(declare(s.alice_decl, 1, true)));
        sc.from(kBob, MsgType::declare_online, wire::encode(declare(signed_decl(kBob, true, {"self", "alice"}), 0, false)));
        for (int i = 0; i < 6; ++i) sc.from(kCarol, MsgType::pong, wire::encode(wire::Pong{0}), 250);
        sc.write("silent_contact");
    }
    put("fuzz_node", "empty", Bytes{});
    put("fuzz_node", "only_flags", Bytes{kSuperClient | kBobServer | kAliceContact});
}

}  // namespace

// ---------------------------------------------------------------------------
// Session channels: their payloads and data packets for fuzz_payload and fuzz_packet,
// and operation sequences for fuzz_channel (see the Op list there). Named channel_*.

void channels() {
    const wire::ChannelHello hello{kx_of(kAlice), kx_of(kSelf), kx_of(kBob), 0x01020304, 1700000000000};
    const wire::ChannelWelcome welcome{kx_of(kSelf), kx_of(kAlice), kx_of(kCarol), 0x0a0b0c0d, 0x01020304, false};
    const wire::ChannelWelcome stale{kx_of(kSelf), kx_of(kAlice), {}, 0, 0x01020304, true};
    put("fuzz_payload", "channel_hello", wire::encode(hello));
    put("fuzz_payload", "channel_welcome", wire::encode(welcome));
    put("fuzz_payload", "channel_welcome_stale", wire::encode(stale));

    const wire::ChannelData data{0x0a0b0c0d, 7, Bytes(40, 0x33)};
    put("fuzz_packet", "channel_data", mode(PacketMode::raw, wire::encode(data)));
    put("fuzz_packet", "channel_data_smallest",
        mode(PacketMode::raw, wire::encode(wire::ChannelData{1, 0, Bytes(wire::kChannelTag + 1, 0)})));
    put("fuzz_packet", "channel_data_index_0",
        mode(PacketMode::raw, wire::encode(wire::ChannelData{0, 7, Bytes(40, 0x33)})));
    for (const auto& [name, type, payload] :
         {std::tuple{"channel_hello_packet", MsgType::channel_hello, wire::encode(hello)},
          std::tuple{"channel_welcome_packet", MsgType::channel_welcome, wire::encode(welcome)}}) {
        PacketSpec spec;
        spec.type = static_cast<std::uint8_t>(type);
        spec.user = "alice";
        spec.session = kAlice.session;
        spec.port = 7300;
        spec.keys = 1 | 1 << 2;  // signed by alice, naming alice's key
        spec.payload = payload;
        put("fuzz_packet", name, mode(PacketMode::structured, spec.write()));
    }

    const std::string t = "fuzz_channel";
    put(t, "channel_sealed", Bytes{1, 3, 'h', 'i', '!', 0, 0, 1, 0, 0, 0, 4, 0});
    put(t, "channel_flipped", Bytes{1, 3, 'h', 'i', '!', 0x80, 0x21, 1, 3, 'h', 'i', '!', 0x80, 0x05});
    put(t, "channel_rekeys", Bytes{1, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,
                                   1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 4, 3});
    put(t, "channel_rotate", Bytes{6, 1, 1, 1, 'x', 0, 0, 6, 0, 1, 1, 'y', 0, 0, 5, 0x01, 0xf4, 1, 1, 'z', 0, 0});
    put(t, "channel_time", Bytes{5, 0x27, 0x10, 1, 1, 'a', 0, 0, 5, 0xff, 0xff});
    Bytes hello_op{2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1 | 2 | 4 | 8};
    hello_op.resize(hello_op.size() + 32, 0x42);
    hello_op.insert(hello_op.end(), {0, 0, 0, 9, 0, 5});
    put(t, "channel_hello_stranger", hello_op);
    hello_op[10] = 1 | 2;  // naming a session key self does not hold: stale
    put(t, "channel_hello_stale", hello_op);
    hello_op[1] = 1;  // from alice herself, over her working channel
    hello_op[10] = 1 | 2 | 4 | 8;
    put(t, "channel_hello_alice", hello_op);
    Bytes welcome_op = hello_op;
    welcome_op[0] = 3;
    welcome_op.insert(welcome_op.end(), {0, 0, 0, 1});
    put(t, "channel_welcome_unsolicited", welcome_op);
    Bytes raw_op{0, static_cast<std::uint8_t>(wire::encode(data).size())};
    put(t, "channel_raw", cat(raw_op, wire::encode(data)));
    Bytes payload_op{7, static_cast<std::uint8_t>(wire::encode(hello).size())};
    put(t, "channel_payload", cat(payload_op, wire::encode(hello)));
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    init();
    const Samples s;
    payloads(s);
    packets(s);
    frames(s);
    nodes(s);
    channels();
    std::printf("make_corpus: wrote %zu files under %s\n", written, out_dir.c_str());
    return 0;
}
