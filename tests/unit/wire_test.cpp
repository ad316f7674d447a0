// Unit tests for the wire format (src/wire): exact encodings, round trips of every
// message, and hostile input. Inputs are crafted with the small msgpack writer below,
// not with msgpack-c, so the tests also check the format against an independent encoder.

#include "darkchat/crypto.hpp"
#include "darkchat/wire.hpp"
#include "crypto/wire_signing.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace dc;
using namespace dc::wire;

namespace {

const bool kCryptoReady = crypto::init().ok();

// ---------------------------------------------------------------------------
// A minimal msgpack writer for crafting (valid and invalid) inputs.
namespace mp {

// A tag byte followed by n as a big-endian number of the given width.
Bytes head(std::uint8_t tag, std::uint64_t n, int width) {
    Bytes o{tag};
    for (int i = width - 1; i >= 0; --i) o.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    return o;
}

Bytes cat(Bytes a, ByteView b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Bytes uint(std::uint64_t v) {
    if (v < 128) return {static_cast<std::uint8_t>(v)};
    if (v <= 0xff) return head(0xcc, v, 1);
    if (v <= 0xffff) return head(0xcd, v, 2);
    if (v <= 0xffffffff) return head(0xce, v, 4);
    return head(0xcf, v, 8);
}

Bytes neg(std::int64_t v) { return head(0xd3, static_cast<std::uint64_t>(v), 8); }  // int 64

Bytes str(std::string_view s) {
    const ByteView body(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    if (s.size() < 32) return cat({static_cast<std::uint8_t>(0xa0 | s.size())}, body);
    if (s.size() < 256) return cat(head(0xd9, s.size(), 1), body);
    if (s.size() < 65536) return cat(head(0xda, s.size(), 2), body);
    return cat(head(0xdb, s.size(), 4), body);
}

Bytes bin(ByteView b) {
    if (b.size() < 256) return cat(head(0xc4, b.size(), 1), b);
    if (b.size() < 65536) return cat(head(0xc5, b.size(), 2), b);
    return cat(head(0xc6, b.size(), 4), b);
}

Bytes bin(std::size_t n, std::uint8_t fill) { return bin(Bytes(n, fill)); }
Bytes boolean(bool b) { return {static_cast<std::uint8_t>(b ? 0xc3 : 0xc2)}; }
Bytes nil() { return {0xc0}; }
Bytes float64() { return {0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}; }  // 1.5

Bytes array(const std::vector<Bytes>& items) {
    const std::size_t n = items.size();
    Bytes o = n < 16 ? Bytes{static_cast<std::uint8_t>(0x90 | n)} : n < 65536 ? head(0xdc, n, 2) : head(0xdd, n, 4);
    for (const auto& i : items) o = cat(std::move(o), i);
    return o;
}

Bytes map(const std::vector<std::pair<Bytes, Bytes>>& entries) {
    const std::size_t n = entries.size();
    Bytes o = n < 16 ? Bytes{static_cast<std::uint8_t>(0x80 | n)} : head(0xde, n, 2);
    for (const auto& [k, v] : entries) o = cat(cat(std::move(o), k), v);
    return o;
}

Bytes addr(std::uint64_t family, std::size_t ip_len, std::uint64_t port) {
    return array({uint(family), bin(ip_len, 10), uint(port)});
}

Bytes addr(const Addr& a) {
    const std::size_t ip_len = a.family == 4 ? 4 : a.family == 6 ? 16 : 0;
    return array({uint(a.family), bin(ByteView(a.ip).first(ip_len)), uint(a.port)});
}

Bytes blob(const SignedBlob& b) { return array({bin(b.body), bin(b.sig)}); }

}  // namespace mp

// A payload map under construction; tests replace or remove one entry at a time.
struct MapSpec {
    std::vector<std::pair<Bytes, Bytes>> entries;

    MapSpec& set(std::uint64_t key, Bytes value) {
        const Bytes k = mp::uint(key);
        for (auto& e : entries)
            if (e.first == k) {
                e.second = std::move(value);
                return *this;
            }
        entries.emplace_back(k, std::move(value));
        return *this;
    }
    MapSpec& erase(std::uint64_t key) {
        const Bytes k = mp::uint(key);
        std::erase_if(entries, [&](const auto& e) { return e.first == k; });
        return *this;
    }
    MapSpec& add(Bytes key, Bytes value) {  // even a duplicate
        entries.emplace_back(std::move(key), std::move(value));
        return *this;
    }
    Bytes bytes() const { return mp::map(entries); }
};

template <typename R>
std::string error_of(const R& r) {
    return r.ok() ? std::string("ok") : r.error();
}

// ---------------------------------------------------------------------------
// Sample values

Addr v6_addr() {
    Addr a;
    a.family = 6;
    a.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xdc, 0x00, 0x17};
    a.port = 4242;
    return a;
}

Addr v4_addr() { return Addr::v4(192, 168, 7, 31, 40001); }

template <std::size_t N>
std::array<std::uint8_t, N> pattern(std::uint8_t start) {
    std::array<std::uint8_t, N> a{};
    for (std::size_t i = 0; i < N; ++i) a[i] = static_cast<std::uint8_t>(start + 7 * i);
    return a;
}

Declaration sample_declaration() {
    Declaration d;
    d.user = "alice";
    d.key = pattern<32>(3);
    d.session = {1, 2, 3, 4, 5, 6, 7, 8};
    d.seq = 0x1'0000'0001;
    d.online = false;
    d.super_client = true;
    d.addr = v6_addr();
    d.issued = 1'700'000'000'123;
    d.links = {"bob", "carol.w", "dave-99_x"};
    d.kx = pattern<32>(9);
    return d;
}

SignedBlob sample_blob(std::uint8_t fill) { return SignedBlob{Bytes{fill, 2, 3, fill}, pattern<64>(fill)}; }

ChatMessage sample_chat_message() {
    ChatMessage m;
    m.id = pattern<16>(100);
    m.from = "alice";
    m.to = "bob";
    m.sent = 1'700'000'000'999;
    m.text = "hello, \xc3\xa9t\xc3\xa9 \xe2\x9c\x93";  // UTF-8
    return m;
}

Declare sample_declare() {
    Declare p;
    p.decl = sample_blob(0x41);
    p.hops = 3;
    p.reply = true;
    p.explode = true;
    p.nonce = 0xfedc'ba98'7654'3210;
    p.seen = v6_addr();
    return p;
}

RequestPing sample_request_ping() {
    RequestPing p;
    p.target_user = "bob";
    p.target_session = pattern<8>(9);
    p.requester_user = "alice";
    p.requester_session = pattern<8>(77);
    p.requester_addr = v4_addr();
    p.nonce = 99;
    p.hops = 1;
    return p;
}

RequestUserList sample_request_user_list() { return RequestUserList{12345, {"bob", "carol"}, {}}; }

DeliverKnownList sample_deliver_known_list() {
    DeliverKnownList p;
    p.nonce = 12345;
    p.complete = true;
    p.sessions.push_back(KnownSession{sample_blob(1), v4_addr(), true, 1'700'000'000'000});
    p.sessions.push_back(KnownSession{sample_blob(2), v6_addr(), false, 0});
    p.sessions.push_back(KnownSession{sample_blob(3), Addr{}, false, -20});  // no address known
    return p;
}

// ---------------------------------------------------------------------------
// Field-by-field equality (the structs do not all define operator==).

auto fields(const Declaration& d) {
    return std::tie(d.user, d.key, d.session, d.seq, d.online, d.super_client, d.addr, d.issued, d.links, d.kx);
}
auto fields(const ChatMessage& m) { return std::tie(m.id, m.from, m.to, m.sent, m.text); }
auto fields(const Declare& p) { return std::tie(p.decl, p.hops, p.reply, p.explode, p.nonce, p.seen); }
auto fields(const RequestPing& p) {
    return std::tie(p.target_user, p.target_session, p.requester_user, p.requester_session, p.requester_addr,
                    p.nonce, p.hops);
}
auto fields(const RequestUserList& p) { return std::tie(p.nonce, p.want); }
auto fields(const KnownSession& s) { return std::tie(s.decl, s.addr, s.online, s.last_seen); }
auto fields(const Chat& p) { return std::tie(p.sealed, p.kx); }
auto fields(const ChatAck& p) { return std::tie(p.id); }
auto fields(const Ping& p) { return std::tie(p.nonce); }
auto fields(const Pong& p) { return std::tie(p.nonce); }

template <typename T>
bool same(const T& a, const T& b) {
    return fields(a) == fields(b);
}
bool same(const DeliverKnownList& a, const DeliverKnownList& b) {
    return a.nonce == b.nonce && a.complete == b.complete &&
           std::equal(a.sessions.begin(), a.sessions.end(), b.sessions.begin(), b.sessions.end(),
                      [](const KnownSession& x, const KnownSession& y) { return same(x, y); });
}

// decode, encode, decode again: whatever decodes must survive a round trip unchanged.
template <typename Decode>
void check_stable(Decode decode, ByteView input) {
    const auto first = decode(input);
    if (!first.ok()) {
        CHECK_FALSE(first.error().empty());
        return;
    }
    const Bytes again = encode(first.value());
    const auto second = decode(again);
    REQUIRE_MESSAGE(second.ok(), second.error());
    CHECK(same(first.value(), second.value()));
}

// Runs input through every decoder. Only the untouched signed packet may decode as a packet.
void check_all_decoders(ByteView input, ByteView signed_packet = {}) {
    const bool is_packet =
        !signed_packet.empty() && std::equal(input.begin(), input.end(), signed_packet.begin(), signed_packet.end());
    const auto packet = decode_packet(input);
    CHECK(packet.ok() == is_packet);
    check_stable(decode_declaration, input);
    check_stable(decode_chat_message, input);
    check_stable(decode_declare, input);
    check_stable(decode_request_ping, input);
    check_stable(decode_request_user_list, input);
    check_stable(decode_deliver_known_list, input);
    check_stable(decode_chat, input);
    check_stable(decode_chat_ack, input);
    check_stable(decode_ping, input);
    check_stable(decode_pong, input);
}

Header sample_header(const crypto::KeyPair& kp, MsgType type) {
    Header h;
    h.type = type;
    h.from_user = "alice";
    h.from_session = {9, 8, 7, 6, 5, 4, 3, 2};
    h.from_port = 65535;
    h.from_key = kp.pk;
    return h;
}

// A packet assembled by hand from its documented layout, signed with kp.
Bytes handmade_packet(const crypto::KeyPair& kp, const std::vector<Bytes>& header_fields) {
    const Bytes signed_header = mp::array(header_fields);
    const Signature sig = crypto::sign(kp.sk, signed_header);
    return mp::array({mp::uint(1), mp::bin(signed_header), mp::bin(sig)});
}

std::vector<Bytes> handmade_header_fields(const crypto::KeyPair& kp) {
    return {mp::uint(8), mp::str("alice"), mp::bin(8, 5), mp::uint(4000), mp::bin(kp.pk), mp::bin(encode(Ping{7}))};
}

}  // namespace

TEST_CASE("crypto is initialised") { REQUIRE(kCryptoReady); }

TEST_CASE("type_name gives the protocol's names") {
    CHECK(std::string(type_name(MsgType::declare_online)) == "declareOnline");
    CHECK(std::string(type_name(MsgType::declare_offline)) == "declareOffline");
    CHECK(std::string(type_name(MsgType::request_ping)) == "requestPing");
    CHECK(std::string(type_name(MsgType::request_user_list)) == "requestUserList");
    CHECK(std::string(type_name(MsgType::deliver_known_list)) == "deliverKnownList");
    CHECK(std::string(type_name(MsgType::chat)) == "chat");
    CHECK(std::string(type_name(MsgType::chat_ack)) == "chatAck");
    CHECK(std::string(type_name(MsgType::ping)) == "ping");
    CHECK(std::string(type_name(MsgType::pong)) == "pong");
    CHECK(std::string(type_name(MsgType::hold)) == "hold");
    CHECK(std::string(type_name(MsgType::hold_ack)) == "holdAck");
    CHECK(std::string(type_name(MsgType::hand_over)) == "handOver");
    CHECK(std::string(type_name(static_cast<MsgType>(0))) == "unknown");
    CHECK(std::string(type_name(static_cast<MsgType>(13))) == "unknown");
}

TEST_CASE("frame prefixes a 4-byte big-endian length") {
    CHECK(frame(Bytes{}) == Bytes{0, 0, 0, 0});
    CHECK(frame(Bytes{7, 8, 9}) == Bytes{0, 0, 0, 3, 7, 8, 9});
    const Bytes big(0x010203, 0xab);
    const Bytes f = frame(big);
    REQUIRE(f.size() == 4 + big.size());
    CHECK(Bytes(f.begin(), f.begin() + 4) == Bytes{0x00, 0x01, 0x02, 0x03});
    CHECK(std::equal(big.begin(), big.end(), f.begin() + 4));
}

TEST_CASE("sign_blob signs the body with the author's key") {
    const auto alice = crypto::generate_identity();
    const auto mallory = crypto::generate_identity();
    const SignedBlob blob = sign_blob(encode(sample_chat_message()), alice.sk);
    CHECK(blob.body == encode(sample_chat_message()));
    CHECK(verify_blob(blob, alice.pk));
    CHECK_FALSE(verify_blob(blob, mallory.pk));

    SignedBlob body_changed = blob;
    body_changed.body.back() ^= 1;
    CHECK_FALSE(verify_blob(body_changed, alice.pk));
    SignedBlob sig_changed = blob;
    sig_changed.sig[10] ^= 0x80;
    CHECK_FALSE(verify_blob(sig_changed, alice.pk));

    CHECK(verify_blob(sign_blob(Bytes{}, alice.sk), alice.pk));
}

TEST_CASE("payloads are maps keyed by field number (exact bytes)") {
    CHECK(encode(Ping{5}) == Bytes{0x81, 0x00, 0x05});
    CHECK(encode(Pong{0x1234}) == Bytes{0x81, 0x00, 0xcd, 0x12, 0x34});

    Bytes ack{0x81, 0x00, 0xc4, 0x10};
    for (auto b : pattern<16>(1)) ack.push_back(b);
    CHECK(encode(ChatAck{pattern<16>(1)}) == ack);

    CHECK(encode(RequestUserList{1, {"bob"}, {}}) == Bytes{0x82, 0x00, 0x01, 0x01, 0x91, 0xa3, 'b', 'o', 'b'});

    // A nested SignedBlob is [body, sig] and an Addr is [family, ip, port].
    Declare d;
    d.decl = SignedBlob{Bytes{0xaa}, {}};
    d.decl.sig.fill(0x11);
    d.hops = 2;
    d.reply = true;
    d.nonce = 7;
    d.seen = Addr::v4(10, 0, 0, 1, 4242);
    Bytes want{0x86, 0x00, 0x92, 0xc4, 0x01, 0xaa, 0xc4, 0x40};
    want.insert(want.end(), 64, 0x11);
    const Bytes rest{0x01, 0x02, 0x02, 0xc3, 0x03, 0xc2, 0x04, 0x07,
                     0x05, 0x93, 0x04, 0xc4, 0x04, 10, 0, 0, 1, 0xcd, 0x10, 0x92};
    want.insert(want.end(), rest.begin(), rest.end());
    CHECK(encode(d) == want);

    // The hand-written encoder agrees with the real one.
    CHECK(encode(Ping{300}) == mp::map({{mp::uint(0), mp::uint(300)}}));
}

TEST_CASE("every payload has the documented layout") {
    // Built by hand from wire.hpp: maps keyed by field number in declaration order.
    const Declaration d = sample_declaration();
    const Bytes declaration = mp::map({{mp::uint(0), mp::str(d.user)},
                                       {mp::uint(1), mp::bin(d.key)},
                                       {mp::uint(2), mp::bin(d.session)},
                                       {mp::uint(3), mp::uint(d.seq)},
                                       {mp::uint(4), mp::boolean(d.online)},
                                       {mp::uint(5), mp::boolean(d.super_client)},
                                       {mp::uint(6), mp::addr(d.addr)},
                                       {mp::uint(7), mp::uint(static_cast<std::uint64_t>(d.issued))},
                                       {mp::uint(8), mp::array({mp::str("bob"), mp::str("carol.w"),
                                                                mp::str("dave-99_x")})},
                                       {mp::uint(9), mp::bin(d.kx)}});
    CHECK(encode(d) == declaration);
    REQUIRE(decode_declaration(declaration).ok());
    CHECK(same(decode_declaration(declaration).value(), d));

    const ChatMessage m = sample_chat_message();
    const Bytes chat_message = mp::map({{mp::uint(0), mp::bin(m.id)},
                                        {mp::uint(1), mp::str(m.from)},
                                        {mp::uint(2), mp::str(m.to)},
                                        {mp::uint(3), mp::uint(static_cast<std::uint64_t>(m.sent))},
                                        {mp::uint(4), mp::str(m.text)}});
    CHECK(encode(m) == chat_message);
    REQUIRE(decode_chat_message(chat_message).ok());
    CHECK(same(decode_chat_message(chat_message).value(), m));

    const Declare dl = sample_declare();
    const Bytes declare = mp::map({{mp::uint(0), mp::blob(dl.decl)},
                                   {mp::uint(1), mp::uint(dl.hops)},
                                   {mp::uint(2), mp::boolean(dl.reply)},
                                   {mp::uint(3), mp::boolean(dl.explode)},
                                   {mp::uint(4), mp::uint(dl.nonce)},
                                   {mp::uint(5), mp::addr(dl.seen)}});
    CHECK(encode(dl) == declare);
    REQUIRE(decode_declare(declare).ok());
    CHECK(same(decode_declare(declare).value(), dl));

    const RequestPing rp = sample_request_ping();
    const Bytes request_ping = mp::map({{mp::uint(0), mp::str(rp.target_user)},
                                        {mp::uint(1), mp::bin(rp.target_session)},
                                        {mp::uint(2), mp::str(rp.requester_user)},
                                        {mp::uint(3), mp::bin(rp.requester_session)},
                                        {mp::uint(4), mp::addr(rp.requester_addr)},
                                        {mp::uint(5), mp::uint(rp.nonce)},
                                        {mp::uint(6), mp::uint(rp.hops)}});
    CHECK(encode(rp) == request_ping);
    REQUIRE(decode_request_ping(request_ping).ok());
    CHECK(same(decode_request_ping(request_ping).value(), rp));

    const Bytes user_list =
        mp::map({{mp::uint(0), mp::uint(12345)}, {mp::uint(1), mp::array({mp::str("bob"), mp::str("carol")})}});
    CHECK(encode(sample_request_user_list()) == user_list);

    DeliverKnownList kl = sample_deliver_known_list();
    kl.sessions.pop_back();  // (its negative time has a shorter encoding than mp::neg writes)
    std::vector<Bytes> sessions;
    for (const auto& s : kl.sessions)
        sessions.push_back(mp::array({mp::blob(s.decl), mp::addr(s.addr), mp::boolean(s.online),
                                      mp::uint(static_cast<std::uint64_t>(s.last_seen))}));
    const Bytes known_list = mp::map({{mp::uint(0), mp::uint(kl.nonce)},
                                      {mp::uint(1), mp::boolean(kl.complete)},
                                      {mp::uint(2), mp::array(sessions)}});
    CHECK(encode(kl) == known_list);
    REQUIRE(decode_deliver_known_list(known_list).ok());
    CHECK(same(decode_deliver_known_list(known_list).value(), kl));

    const Chat chat{Bytes(60, 6), pattern<32>(6)};
    CHECK(encode(chat) == mp::map({{mp::uint(0), mp::bin(chat.sealed)}, {mp::uint(1), mp::bin(chat.kx)}}));
    const SignedBlob blob = sample_blob(6);
    CHECK(encode(blob) == mp::blob(blob));
    REQUIRE(decode_signed_blob(mp::blob(blob)).ok());
    CHECK(decode_signed_blob(mp::blob(blob)).value() == blob);
    CHECK(encode(ChatAck{pattern<16>(6)}) == mp::map({{mp::uint(0), mp::bin(pattern<16>(6))}}));
    CHECK(encode(Ping{UINT64_MAX}) == mp::map({{mp::uint(0), mp::uint(UINT64_MAX)}}));
    CHECK(encode(Pong{65536}) == mp::map({{mp::uint(0), mp::uint(65536)}}));

    // The packet: Ed25519 signatures are deterministic, so a hand-built packet is byte-identical.
    const auto kp = crypto::generate_identity();
    Header h;
    h.type = MsgType::ping;
    h.from_user = "alice";
    h.from_session = {5, 5, 5, 5, 5, 5, 5, 5};
    h.from_port = 4000;
    h.from_key = kp.pk;
    CHECK(encode_packet(h, encode(Ping{7}), kp.sk) == handmade_packet(kp, handmade_header_fields(kp)));
}

TEST_CASE("declaration round trip") {
    const Declaration d = sample_declaration();
    const auto r = decode_declaration(encode(d));
    REQUIRE_MESSAGE(r.ok(), r.error());
    CHECK(r->user == "alice");
    CHECK(r->key == pattern<32>(3));
    CHECK(r->session == SessionId{1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(r->seq == 0x1'0000'0001u);
    CHECK(r->online == false);
    CHECK(r->super_client == true);
    CHECK(r->addr.family == 6);
    CHECK(r->addr.ip == v6_addr().ip);
    CHECK(r->addr.port == 4242);
    CHECK(r->issued == 1'700'000'000'123);
    CHECK(r->links == std::vector<std::string>{"bob", "carol.w", "dave-99_x"});
    CHECK(same(r.value(), d));

    SUBCASE("IPv4, no links, negative time") {
        Declaration e = d;
        e.addr = v4_addr();
        e.links.clear();
        e.issued = -1;
        e.online = true;
        const auto s = decode_declaration(encode(e));
        REQUIRE_MESSAGE(s.ok(), s.error());
        CHECK(s->addr == Addr::v4(192, 168, 7, 31, 40001));
        CHECK(s->links.empty());
        CHECK(s->issued == -1);
        CHECK(same(s.value(), e));
    }
    SUBCASE("no address, but a port") {
        Declaration e = d;
        e.addr = Addr{};
        e.addr.port = 9;
        const auto s = decode_declaration(encode(e));
        REQUIRE_MESSAGE(s.ok(), s.error());
        CHECK(s->addr.family == 0);
        CHECK(s->addr.port == 9);
        CHECK(same(s.value(), e));
    }
    SUBCASE("links at the limit, and one over") {
        Declaration e = d;
        for (std::size_t i = 0; i < kMaxLinks; ++i)
            e.links.push_back(std::string(22, 'a') + std::to_string(1'000'000'000 + i));
        e.links.resize(kMaxLinks);
        REQUIRE(e.links.back().size() == 32);
        const auto s = decode_declaration(encode(e));
        REQUIRE_MESSAGE(s.ok(), s.error());
        CHECK(s->links.size() == kMaxLinks);
        CHECK(same(s.value(), e));

        e.links.push_back("one-too-many");
        CHECK(error_of(decode_declaration(encode(e))) == "declaration: too many links");
    }
}

TEST_CASE("chat message round trip, up to the text limit") {
    const ChatMessage m = sample_chat_message();
    const auto r = decode_chat_message(encode(m));
    REQUIRE_MESSAGE(r.ok(), r.error());
    CHECK(r->id == pattern<16>(100));
    CHECK(r->from == "alice");
    CHECK(r->to == "bob");
    CHECK(r->sent == 1'700'000'000'999);
    CHECK(r->text == "hello, \xc3\xa9t\xc3\xa9 \xe2\x9c\x93");

    ChatMessage big = m;
    big.text.assign(kMaxText, 'x');
    big.text[17] = '\0';  // text is bytes; a NUL survives
    const auto b = decode_chat_message(encode(big));
    REQUIRE_MESSAGE(b.ok(), b.error());
    CHECK(b->text.size() == kMaxText);
    CHECK(b->text[17] == '\0');
    CHECK(same(b.value(), big));

    big.text.push_back('y');
    CHECK(error_of(decode_chat_message(encode(big))) == "chat message: text too long");
    big.text.assign(kMaxText + 64, 'z');
    CHECK(error_of(decode_chat_message(encode(big))) == "chat message: text too long");
    big.text.assign(kMaxText + 65, 'z');  // beyond msgpack's own limit as well
    CHECK(error_of(decode_chat_message(encode(big))) == "chat message: value over size limit");

    ChatMessage empty = m;
    empty.text.clear();
    const auto e = decode_chat_message(encode(empty));
    REQUIRE_MESSAGE(e.ok(), e.error());
    CHECK(e->text.empty());
}

TEST_CASE("declare round trip") {
    const Declare p = sample_declare();
    const auto r = decode_declare(encode(p));
    REQUIRE_MESSAGE(r.ok(), r.error());
    CHECK(r->decl.body == Bytes{0x41, 2, 3, 0x41});
    CHECK(r->decl.sig == pattern<64>(0x41));
    CHECK(r->hops == 3);
    CHECK(r->reply);
    CHECK(r->explode);
    CHECK(r->nonce == 0xfedc'ba98'7654'3210u);
    CHECK(r->seen == v6_addr());
    CHECK(same(r.value(), p));

    // A real signed declaration inside survives and still verifies.
    const auto kp = crypto::generate_identity();
    Declaration d = sample_declaration();
    d.key = kp.pk;
    Declare q;
    q.decl = sign_blob(encode(d), kp.sk);
    const auto s = decode_declare(encode(q));
    REQUIRE_MESSAGE(s.ok(), s.error());
    CHECK(verify_blob(s->decl, kp.pk));
    const auto inner = decode_declaration(s->decl.body);
    REQUIRE_MESSAGE(inner.ok(), inner.error());
    CHECK(same(inner.value(), d));
}

TEST_CASE("requestPing round trip") {
    const RequestPing p = sample_request_ping();
    const auto r = decode_request_ping(encode(p));
    REQUIRE_MESSAGE(r.ok(), r.error());
    CHECK(r->target_user == "bob");
    CHECK(r->target_session == pattern<8>(9));
    CHECK(r->requester_user == "alice");
    CHECK(r->requester_session == pattern<8>(77));
    CHECK(r->requester_addr == v4_addr());
    CHECK(r->nonce == 99);
    CHECK(r->hops == 1);
    CHECK(same(r.value(), p));

    // An empty (or absent) target means "whoever receives this".
    RequestPing anyone = p;
    anyone.target_user.clear();
    const auto a = decode_request_ping(encode(anyone));
    REQUIRE_MESSAGE(a.ok(), a.error());
    CHECK(a->target_user.empty());
    CHECK(same(a.value(), anyone));
    anyone.target_user = "not a name";
    CHECK(error_of(decode_request_ping(encode(anyone))) == "requestPing: invalid target_user");
    anyone.requester_user.clear();
    anyone.target_user.clear();
    CHECK(error_of(decode_request_ping(encode(anyone))) == "requestPing: invalid requester_user");
}

TEST_CASE("requestUserList round trip") {
    const auto r = decode_request_user_list(encode(sample_request_user_list()));
    REQUIRE_MESSAGE(r.ok(), r.error());
    CHECK(r->nonce == 12345);
    CHECK(r->want == std::vector<std::string>{"bob", "carol"});

    const auto empty = decode_request_user_list(encode(RequestUserList{}));
    REQUIRE_MESSAGE(empty.ok(), empty.error());
    CHECK(empty->nonce == 0);
    CHECK(empty->want.empty());

    RequestUserList bad{1, {"bob", "no spaces allowed"}, {}};
    CHECK(error_of(decode_request_user_list(encode(bad))) == "requestUserList: invalid wanted user");
}

TEST_CASE("deliverKnownList round trip, up to the list limit") {
    const DeliverKnownList p = sample_deliver_known_list();
    const auto r = decode_deliver_known_list(encode(p));
    REQUIRE_MESSAGE(r.ok(), r.error());
    CHECK(r->nonce == 12345);
    CHECK(r->complete);
    REQUIRE(r->sessions.size() == 3);
    CHECK(r->sessions[0].decl == sample_blob(1));
    CHECK(r->sessions[0].addr == v4_addr());
    CHECK(r->sessions[0].online);
    CHECK(r->sessions[0].last_seen == 1'700'000'000'000);
    CHECK(r->sessions[1].addr == v6_addr());
    CHECK_FALSE(r->sessions[1].online);
    CHECK(r->sessions[2].addr.family == 0);
    CHECK(r->sessions[2].last_seen == -20);
    CHECK(same(r.value(), p));

    const auto empty = decode_deliver_known_list(encode(DeliverKnownList{}));
    REQUIRE_MESSAGE(empty.ok(), empty.error());
    CHECK(empty->sessions.empty());
    CHECK_FALSE(empty->complete);

    DeliverKnownList full;
    for (std::size_t i = 0; i < kMaxListEntries; ++i)
        full.sessions.push_back(KnownSession{sample_blob(static_cast<std::uint8_t>(i)),
                                             Addr::v4(10, 0, 0, 1, static_cast<std::uint16_t>(i)), i % 2 == 0,
                                             static_cast<TimeMs>(i)});
    const Bytes full_bytes = encode(full);
    CHECK(full_bytes.size() <= kMaxFrame);
    const auto f = decode_deliver_known_list(full_bytes);
    REQUIRE_MESSAGE(f.ok(), f.error());
    CHECK(f->sessions.size() == kMaxListEntries);
    CHECK(f->sessions.back().addr.port == kMaxListEntries - 1);
    CHECK(same(f.value(), full));

    full.sessions.push_back(full.sessions.front());
    CHECK(error_of(decode_deliver_known_list(encode(full))) == "deliverKnownList: too many sessions");
}

TEST_CASE("chat, chatAck, ping and pong round trip") {
    const Chat c{Bytes(100, 0x99), pattern<32>(0x99)};
    const auto rc = decode_chat(encode(c));
    REQUIRE_MESSAGE(rc.ok(), rc.error());
    CHECK(rc->sealed == c.sealed);
    CHECK(rc->kx == c.kx);

    CHECK(rc->base == 0);
    Chat based = c;
    based.base = UINT64_MAX;
    const auto rb = decode_chat(encode(based));
    REQUIRE_MESSAGE(rb.ok(), rb.error());
    CHECK(rb->base == UINT64_MAX);

    // A numbered chat message keeps its author session and number; an
    // unnumbered one is encoded as before (5 fields) and reads back as 0.
    ChatMessage n = sample_chat_message();
    n.session = pattern<8>(7);
    n.seq = 1ULL << 40;
    const auto rn = decode_chat_message(encode(n));
    REQUIRE_MESSAGE(rn.ok(), rn.error());
    CHECK(rn->session == n.session);
    CHECK(rn->seq == n.seq);
    CHECK(rn->text == n.text);
    const auto ru = decode_chat_message(encode(sample_chat_message()));
    REQUIRE(ru.ok());
    CHECK(ru->seq == 0);
    CHECK(encode(n).size() > encode(sample_chat_message()).size());

    const auto ra = decode_chat_ack(encode(ChatAck{pattern<16>(5)}));
    REQUIRE_MESSAGE(ra.ok(), ra.error());
    CHECK(ra->id == pattern<16>(5));
    CHECK(ra->more.empty());
    CHECK(ra->upto == 0);
    // One datagram acknowledges up to 1 + kMaxAckIds messages; more is malformed.
    ChatAck many{pattern<16>(5)};
    for (std::size_t i = 0; i < kMaxAckIds; ++i) many.more.push_back(pattern<16>(static_cast<int>(i + 6)));
    const auto rm = decode_chat_ack(encode(many));
    REQUIRE_MESSAGE(rm.ok(), rm.error());
    CHECK(rm->more == many.more);
    const auto kp = crypto::generate_identity();
    Header h = sample_header(kp, MsgType::chat_ack);
    h.from_user = std::string(32, 'u');  // the longest name
    CHECK(encode_packet(h, encode(many), kp.sk).size() <= kMaxDatagram);
    many.upto = UINT64_MAX;  // the cumulative number too
    CHECK(decode_chat_ack(encode(many))->upto == UINT64_MAX);
    CHECK(encode_packet(h, encode(many), kp.sk).size() <= kMaxDatagram);
    many.more.push_back(pattern<16>(99));
    CHECK_FALSE(decode_chat_ack(encode(many)).ok());

    const auto rp = decode_ping(encode(Ping{0}));
    REQUIRE_MESSAGE(rp.ok(), rp.error());
    CHECK(rp->nonce == 0);

    const auto rq = decode_pong(encode(Pong{UINT64_MAX}));
    REQUIRE_MESSAGE(rq.ok(), rq.error());
    CHECK(rq->nonce == UINT64_MAX);
}

TEST_CASE("hold, holdAck and handOver round trip, up to their limits, and a declaration's holding key") {
    const Hold h{"bob", pattern<16>(3), Bytes(kMaxHeldSealed, 0x42), 17};
    const auto rh = decode_hold(encode(h));
    REQUIRE_MESSAGE(rh.ok(), rh.error());
    CHECK(rh->to == "bob");
    CHECK(rh->id == h.id);
    CHECK(rh->sealed == h.sealed);
    CHECK(rh->base == 17);
    Hold big = h;
    big.sealed.push_back(0);
    CHECK_FALSE(decode_hold(encode(big)).ok());
    Hold nobody = h;
    nobody.to = "";
    CHECK_FALSE(decode_hold(encode(nobody)).ok());

    const HoldAck yes{"bob", pattern<16>(4), true, {}};
    const auto ry = decode_hold_ack(encode(yes));
    REQUIRE_MESSAGE(ry.ok(), ry.error());
    CHECK(ry->kept);
    CHECK(ry->reason.empty());
    const HoldAck no{"bob", pattern<16>(4), false, std::string(kMaxHoldReason, 'r')};
    const auto rn = decode_hold_ack(encode(no));
    REQUIRE_MESSAGE(rn.ok(), rn.error());
    CHECK_FALSE(rn->kept);
    CHECK(rn->reason == no.reason);
    HoldAck wordy = no;
    wordy.reason.push_back('r');
    CHECK_FALSE(decode_hold_ack(encode(wordy)).ok());

    const HandOver o{Bytes(300, 0x17), 0};
    const auto ro = decode_hand_over(encode(o));
    REQUIRE_MESSAGE(ro.ok(), ro.error());
    CHECK(ro->sealed == o.sealed);
    CHECK(ro->base == 0);
    CHECK_FALSE(decode_hand_over(encode(Ping{1})).ok());  // no sealed: not a hand-over

    // The holding key is written only when set: a declaration without one
    // encodes as before, and one with it reads back.
    Declaration d = sample_declaration();
    const auto plain_size = encode(d).size();
    d.hold_kx = pattern<32>(9);
    const auto rd = decode_declaration(encode(d));
    REQUIRE_MESSAGE(rd.ok(), rd.error());
    CHECK(rd->hold_kx == d.hold_kx);
    CHECK(encode(d).size() > plain_size);
    CHECK(decode_declaration(encode(sample_declaration()))->hold_kx == KxPublicKey{});
}

TEST_CASE("packet round trip for every message type") {
    const auto kp = crypto::generate_identity();
    for (int t = 1; t <= 9; ++t) {
        CAPTURE(t);
        const Header h = sample_header(kp, static_cast<MsgType>(t));
        const Bytes payload = encode(Ping{static_cast<std::uint64_t>(t) * 1'000'003});
        const auto r = decode_packet(encode_packet(h, payload, kp.sk));
        REQUIRE_MESSAGE(r.ok(), r.error());
        CHECK(static_cast<int>(r->header.type) == t);
        CHECK(r->header.from_user == "alice");
        CHECK(r->header.from_session == SessionId{9, 8, 7, 6, 5, 4, 3, 2});
        CHECK(r->header.from_port == 65535);
        CHECK(r->header.from_key == kp.pk);
        CHECK(r->payload == payload);
    }

    SUBCASE("an empty payload") {
        const auto r = decode_packet(encode_packet(sample_header(kp, MsgType::ping), {}, kp.sk));
        REQUIRE_MESSAGE(r.ok(), r.error());
        CHECK(r->payload.empty());
    }
    SUBCASE("a chat, end to end") {
        const auto bob = crypto::generate_identity();
        KxSecretKey kx_sk{};
        crypto::random_bytes(kx_sk);
        const crypto::KxKeyPair bob_kx{crypto::kx_public(kx_sk), kx_sk};
        const SignedBlob signed_msg = sign_blob(encode(sample_chat_message()), kp.sk);
        const Chat chat{crypto::seal(encode(signed_msg), bob_kx.pk), bob_kx.pk};
        const Bytes wire_bytes = encode_packet(sample_header(bob, MsgType::chat), encode(chat), bob.sk);
        CHECK(wire_bytes.size() <= kMaxDatagram);
        const auto packet = decode_packet(wire_bytes);
        REQUIRE_MESSAGE(packet.ok(), packet.error());
        CHECK(packet->header.type == MsgType::chat);
        const auto c = decode_chat(packet->payload);
        REQUIRE_MESSAGE(c.ok(), c.error());
        const auto opened = crypto::open_sealed(c->sealed, bob_kx);
        REQUIRE(opened);
        CHECK_FALSE(crypto::open_sealed(c->sealed, crypto::KxKeyPair{bob_kx.pk, pattern<32>(1)}));
        const auto blob = decode_signed_blob(*opened);
        REQUIRE_MESSAGE(blob.ok(), blob.error());
        CHECK(verify_blob(*blob, kp.pk));
        const auto m = decode_chat_message(blob->body);
        REQUIRE_MESSAGE(m.ok(), m.error());
        CHECK(m->text == sample_chat_message().text);
    }
    SUBCASE("a packet built by hand from the documented layout") {
        const auto r = decode_packet(handmade_packet(kp, handmade_header_fields(kp)));
        REQUIRE_MESSAGE(r.ok(), r.error());
        CHECK(r->header.type == MsgType::ping);
        CHECK(r->header.from_port == 4000);
        CHECK(r->header.from_session == SessionId{5, 5, 5, 5, 5, 5, 5, 5});
        CHECK(r->payload == encode(Ping{7}));
    }
    SUBCASE("the size limit") {
        const Bytes fits(kMaxFrame - 200, 1);
        const auto ok = decode_packet(encode_packet(sample_header(kp, MsgType::chat), fits, kp.sk));
        REQUIRE_MESSAGE(ok.ok(), ok.error());
        CHECK(ok->payload == fits);
        const Bytes too_big(kMaxFrame, 1);
        CHECK(error_of(decode_packet(encode_packet(sample_header(kp, MsgType::chat), too_big, kp.sk))) ==
              "packet too large");
    }
}

TEST_CASE("any change to a signed packet is rejected") {
    const auto kp = crypto::generate_identity();
    const Bytes good = encode_packet(sample_header(kp, MsgType::ping), encode(Ping{42}), kp.sk);
    REQUIRE(decode_packet(good).ok());

    Bytes bad_sig = good;
    bad_sig.back() ^= 0x01;  // the signature is last
    CHECK(error_of(decode_packet(bad_sig)) == "bad signature");

    Bytes bad_key = good;  // a byte of from_key, inside the signed header
    const auto at = std::search(bad_key.begin(), bad_key.end(), kp.pk.begin(), kp.pk.end());
    REQUIRE(at != bad_key.end());
    at[5] ^= 0x01;
    CHECK(error_of(decode_packet(bad_key)) == "bad signature");

    Bytes bad_port = good;  // from_port 65535 is cd ff ff
    const Bytes port{0xcd, 0xff, 0xff};
    const auto p = std::search(bad_port.begin(), bad_port.end(), port.begin(), port.end());
    REQUIRE(p != bad_port.end());
    p[2] = 0xfe;
    CHECK(error_of(decode_packet(bad_port)) == "bad signature");

    const auto mallory = crypto::generate_identity();
    Header forged = sample_header(kp, MsgType::ping);  // claims kp's key, signed by mallory
    CHECK(error_of(decode_packet(encode_packet(forged, encode(Ping{42}), mallory.sk))) == "bad signature");

    for (std::size_t i = 0; i < good.size(); ++i) {
        for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
            Bytes b = good;
            b[i] ^= mask;
            const int flipped = mask;
            CAPTURE(i);
            CAPTURE(flipped);
            CHECK_FALSE(decode_packet(b).ok());
        }
    }
}

TEST_CASE("an unknown protocol version is reported") {
    const auto kp = crypto::generate_identity();
    Bytes p = encode_packet(sample_header(kp, MsgType::ping), encode(Ping{1}), kp.sk);
    REQUIRE(p[0] == 0x93);
    REQUIRE(p[1] == kVersion);
    p[1] = 2;
    CHECK(error_of(decode_packet(p)) == "unsupported protocol version 2");
    p[1] = 0;
    CHECK(error_of(decode_packet(p)) == "unsupported protocol version 0");
    // A future version may change everything after the version number.
    CHECK(error_of(decode_packet(Bytes{0x91, 0x02})) == "unsupported protocol version 2");
    CHECK(error_of(decode_packet(mp::array({mp::uint(300), mp::str("?")}))) == "unsupported protocol version 300");
    CHECK(error_of(decode_packet(mp::array({mp::str("1")}))) == "packet: version has wrong type");
}

TEST_CASE("decode_packet checks every header field") {
    const auto kp = crypto::generate_identity();
    auto with = [&](std::size_t index, Bytes value) {
        auto f = handmade_header_fields(kp);
        f[index] = std::move(value);
        return error_of(decode_packet(handmade_packet(kp, f)));
    };
    CHECK(with(0, mp::uint(0)) == "header: unknown message type 0");
    CHECK(with(0, mp::uint(13)) == "header: unknown message type 13");
    CHECK(with(0, mp::str("ping")) == "header: type has wrong type");
    CHECK(with(1, mp::str("")) == "header: invalid from_user");
    CHECK(with(1, mp::str("al ice")) == "header: invalid from_user");
    CHECK(with(1, mp::str(std::string(33, 'a'))) == "header: invalid from_user");
    CHECK(with(1, mp::bin(Bytes{'a'})) == "header: from_user has wrong type");
    CHECK(with(2, mp::bin(7, 1)) == "header: bad from_session size");
    CHECK(with(2, mp::bin(9, 1)) == "header: bad from_session size");
    CHECK(with(3, mp::uint(65536)) == "header: from_port out of range");
    CHECK(with(3, mp::neg(-1)) == "header: from_port has wrong type");
    CHECK(with(4, mp::bin(31, 1)) == "header: bad from_key size");
    CHECK(with(5, mp::str("payload")) == "header: payload has wrong type");

    auto fields = handmade_header_fields(kp);
    fields.push_back(mp::nil());
    CHECK(error_of(decode_packet(handmade_packet(kp, fields))) == "header: bad layout");

    // The same checks reach encode_packet's output.
    Header h = sample_header(kp, static_cast<MsgType>(13));
    CHECK(error_of(decode_packet(encode_packet(h, {}, kp.sk))) == "header: unknown message type 13");
    h = sample_header(kp, MsgType::ping);
    h.from_user = "";
    CHECK(error_of(decode_packet(encode_packet(h, {}, kp.sk))) == "header: invalid from_user");

    // The outer array.
    const Bytes hdr = mp::array(handmade_header_fields(kp));
    const Signature sig = crypto::sign(kp.sk, hdr);
    CHECK(error_of(decode_packet(mp::array({mp::uint(1), mp::bin(hdr), mp::bin(sig)}))) == "ok");
    CHECK(error_of(decode_packet(mp::array({mp::uint(1), mp::bin(hdr), mp::bin(ByteView(sig).first(63))}))) ==
          "packet: bad signature size");
    CHECK(error_of(decode_packet(mp::array({mp::uint(1), mp::bin(hdr), mp::bin(sig), mp::nil()}))) ==
          "packet: bad layout");
    CHECK(error_of(decode_packet(mp::array({mp::uint(1), mp::bin(hdr)}))) == "packet: bad layout");
    CHECK(error_of(decode_packet(mp::array({mp::uint(1), mp::str(std::string(hdr.begin(), hdr.end())),
                                            mp::bin(sig)}))) == "packet: header has wrong type");
    CHECK(error_of(decode_packet(mp::map({{mp::uint(0), mp::uint(1)}}))) == "packet: bad layout");
    const Bytes map_header = mp::map({{mp::uint(0), mp::uint(8)}});
    CHECK(error_of(decode_packet(mp::array({mp::uint(1), mp::bin(map_header),
                                            mp::bin(crypto::sign(kp.sk, map_header))}))) == "header: bad layout");
    CHECK(error_of(decode_packet(Bytes(kMaxFrame + 1, 0x90))) == "packet too large");
}

TEST_CASE("every truncation fails cleanly") {
    const auto kp = crypto::generate_identity();
    const Bytes packet = encode_packet(sample_header(kp, MsgType::declare_online), encode(sample_declare()), kp.sk);
    for (std::size_t n = 0; n < packet.size(); ++n) {
        CAPTURE(n);
        CHECK(error_of(decode_packet(ByteView(packet).first(n))) == "truncated packet");
    }

    auto prefixes = [](const Bytes& b, auto decode, const std::string& ctx) {
        REQUIRE(decode(b).ok());
        for (std::size_t n = 0; n < b.size(); ++n) {
            CAPTURE(n);
            CHECK(error_of(decode(ByteView(b).first(n))) == "truncated " + ctx);
        }
    };
    prefixes(encode(sample_declaration()), decode_declaration, "declaration");
    prefixes(encode(sample_chat_message()), decode_chat_message, "chat message");
    prefixes(encode(sample_declare()), decode_declare, "declare");
    prefixes(encode(sample_request_ping()), decode_request_ping, "requestPing");
    prefixes(encode(sample_request_user_list()), decode_request_user_list, "requestUserList");
    prefixes(encode(sample_deliver_known_list()), decode_deliver_known_list, "deliverKnownList");
    prefixes(encode(Chat{Bytes(70, 4), pattern<32>(4)}), decode_chat, "chat");
    prefixes(encode(ChatAck{pattern<16>(4)}), decode_chat_ack, "chatAck");
    prefixes(encode(Ping{1u << 20}), decode_ping, "ping");
    prefixes(encode(Pong{UINT64_MAX}), decode_pong, "pong");
}

TEST_CASE("trailing bytes are rejected") {
    const auto kp = crypto::generate_identity();
    Bytes packet = encode_packet(sample_header(kp, MsgType::ping), encode(Ping{1}), kp.sk);
    packet.push_back(0x00);
    CHECK(error_of(decode_packet(packet)) == "trailing bytes after packet");

    Bytes ping = encode(Ping{1});
    ping.push_back(0xc0);
    CHECK(error_of(decode_ping(ping)) == "trailing bytes after ping");

    // Inside the signed header too.
    auto fields = handmade_header_fields(kp);
    Bytes hdr = mp::array(fields);
    hdr.push_back(0x00);
    const Bytes p = mp::array({mp::uint(1), mp::bin(hdr), mp::bin(crypto::sign(kp.sk, hdr))});
    CHECK(error_of(decode_packet(p)) == "trailing bytes after header");
}

TEST_CASE("hostile length headers fail fast") {
    // Each claims far more than the input holds (the 29-byte kind from MACHINE-NOTES).
    auto padded = [](Bytes head) {
        head.resize(29, 0x00);
        return head;
    };
    std::vector<Bytes> hostile = {
        padded({0xdd, 0xff, 0xff, 0xff, 0xff}),  // array of 2^32-1
        padded({0xdf, 0xff, 0xff, 0xff, 0xff}),  // map of 2^32-1
        padded({0xdb, 0xff, 0xff, 0xff, 0xff}),  // str of 2^32-1 bytes
        padded({0xc6, 0xff, 0xff, 0xff, 0xff}),  // bin of 2^32-1 bytes
        padded({0xdc, 0x10, 0x10}),              // array of 4112: within msgpack's limit, but a lie
        padded({0xde, 0x00, 0x40}),              // map of 64
        padded({0x81, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff}),  // inside a map
    };
    Bytes nested;  // arrays of 2^32-1 inside arrays of 2^32-1
    for (int i = 0; i < 5; ++i) nested.insert(nested.end(), {0xdd, 0xff, 0xff, 0xff, 0xff});
    hostile.push_back(padded(nested));

    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < 200; ++round) {
        for (const auto& h : hostile) {
            const std::string hex = to_hex(h);
            CAPTURE(hex);
            CHECK(error_of(decode_packet(h)) == "truncated packet");
            CHECK(error_of(decode_declaration(h)) == "truncated declaration");
            CHECK(error_of(decode_chat_message(h)) == "truncated chat message");
            CHECK(error_of(decode_declare(h)) == "truncated declare");
            CHECK(error_of(decode_request_ping(h)) == "truncated requestPing");
            CHECK(error_of(decode_request_user_list(h)) == "truncated requestUserList");
            CHECK(error_of(decode_deliver_known_list(h)) == "truncated deliverKnownList");
            CHECK(error_of(decode_chat(h)) == "truncated chat");
            CHECK(error_of(decode_chat_ack(h)) == "truncated chatAck");
            CHECK(error_of(decode_ping(h)) == "truncated ping");
            CHECK(error_of(decode_pong(h)) == "truncated pong");
        }
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed < std::chrono::seconds(5));  // 17600 decodes; microseconds each

    // Sizes that are real but over msgpack's limits fail at the limit.
    Bytes many{0x81, 0x01, 0xdc, 0x13, 0x88};  // {1: [0 x 5000]}
    many.resize(many.size() + 5000, 0x00);
    CHECK(error_of(decode_request_user_list(many)) == "requestUserList: value over size limit");
    std::vector<std::pair<Bytes, Bytes>> wide;
    for (std::uint64_t k = 0; k < 65; ++k) wide.emplace_back(mp::uint(100 + k), mp::nil());
    CHECK(error_of(decode_ping(mp::map(wide))) == "ping: value over size limit");
    wide.pop_back();
    CHECK(error_of(decode_ping(mp::map(wide))) == "ok");
}

TEST_CASE("nesting is limited and ext values are refused") {
    // An unknown field may nest, but no more than 8 containers in all.
    auto ping_with = [](int depth) {
        Bytes v{0x00};
        for (int i = 0; i < depth; ++i) v = mp::array({v});
        return mp::map({{mp::uint(0), mp::uint(3)}, {mp::uint(9), v}});
    };
    const auto ok = decode_ping(ping_with(7));
    REQUIRE_MESSAGE(ok.ok(), ok.error());
    CHECK(ok->nonce == 3);
    CHECK(error_of(decode_ping(ping_with(8))) == "ping: nested too deeply");
    const Bytes nine_deep{0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x90};
    CHECK(error_of(decode_ping(nine_deep)) == "ping: nested too deeply");

    CHECK(error_of(decode_ping(Bytes{0x81, 0x09, 0xd4, 0x01, 0x00})) == "ping: ext values not allowed");
    CHECK(error_of(decode_ping(Bytes{0x81, 0x09, 0xc7, 0x00, 0x01})) == "ping: ext values not allowed");
    CHECK(error_of(decode_ping(Bytes{0x81, 0x09, 0xc1})) == "malformed ping");
}

TEST_CASE("unknown map keys are ignored; missing optional keys take defaults") {
    // Append two fields a newer peer might send (a fixmap of 10 becomes one of 12).
    Bytes d = encode(sample_declaration());
    REQUIRE(d[0] == 0x8a);
    d[0] = 0x8c;
    for (const auto& b : {mp::uint(11), mp::str("future"), mp::uint(63),
                          mp::array({mp::uint(1), mp::map({}), mp::nil(), mp::float64()})})
        d.insert(d.end(), b.begin(), b.end());
    const auto r = decode_declaration(d);
    REQUIRE_MESSAGE(r.ok(), r.error());
    CHECK(same(r.value(), sample_declaration()));

    const auto p = decode_ping(mp::map({{mp::uint(UINT64_MAX), mp::bin(3, 0)},
                                        {mp::uint(0), mp::uint(7)},
                                        {mp::uint(1), mp::float64()}}));
    REQUIRE_MESSAGE(p.ok(), p.error());
    CHECK(p->nonce == 7);

    const auto empty = decode_ping(Bytes{0x80});
    REQUIRE_MESSAGE(empty.ok(), empty.error());
    CHECK(empty->nonce == 0);

    // Only the identity fields of a declaration are required.
    const auto minimal = decode_declaration(
        mp::map({{mp::uint(0), mp::str("bob")}, {mp::uint(1), mp::bin(32, 1)}, {mp::uint(2), mp::bin(8, 2)}}));
    REQUIRE_MESSAGE(minimal.ok(), minimal.error());
    CHECK(minimal->user == "bob");
    CHECK(minimal->seq == 0);
    CHECK(minimal->online == true);
    CHECK(minimal->super_client == false);
    CHECK(minimal->addr == Addr{});
    CHECK(minimal->issued == 0);
    CHECK(minimal->links.empty());

    const auto rp = decode_request_ping(mp::map({{mp::uint(2), mp::str("al")}, {mp::uint(3), mp::bin(8, 4)}}));
    REQUIRE_MESSAGE(rp.ok(), rp.error());
    CHECK(rp->target_user.empty());
    CHECK(rp->target_session == SessionId{});
    CHECK(rp->hops == 0);
}

TEST_CASE("wrong types, sizes and limits are rejected") {
    const MapSpec decl{{{mp::uint(0), mp::str("alice")},
                        {mp::uint(1), mp::bin(32, 1)},
                        {mp::uint(2), mp::bin(8, 2)},
                        {mp::uint(3), mp::uint(9)},
                        {mp::uint(4), mp::boolean(true)},
                        {mp::uint(5), mp::boolean(false)},
                        {mp::uint(6), mp::addr(4, 4, 80)},
                        {mp::uint(7), mp::uint(1000)},
                        {mp::uint(8), mp::array({mp::str("bob")})}}};
    auto decl_error = [&](auto change) {
        MapSpec m = decl;
        change(m);
        return error_of(decode_declaration(m.bytes()));
    };
    const auto base = decode_declaration(decl.bytes());
    REQUIRE_MESSAGE(base.ok(), base.error());
    CHECK(base->addr == Addr::v4(10, 10, 10, 10, 80));

    CHECK(decl_error([](MapSpec& m) { m.set(1, mp::bin(31, 1)); }) == "declaration: bad key size");
    CHECK(decl_error([](MapSpec& m) { m.set(1, mp::bin(33, 1)); }) == "declaration: bad key size");
    CHECK(decl_error([](MapSpec& m) { m.set(1, mp::str(std::string(32, 'k'))); }) == "declaration: key has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(2, mp::bin(7, 1)); }) == "declaration: bad session size");
    CHECK(decl_error([](MapSpec& m) { m.set(0, mp::str("bad name!")); }) == "declaration: invalid user");
    CHECK(decl_error([](MapSpec& m) { m.set(0, mp::str(std::string(33, 'a'))); }) == "declaration: invalid user");
    CHECK(decl_error([](MapSpec& m) { m.set(0, mp::bin(Bytes{'a'})); }) == "declaration: user has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(3, mp::neg(-1)); }) == "declaration: seq has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(3, mp::float64()); }) == "declaration: seq has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(4, mp::uint(1)); }) == "declaration: online has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(5, mp::nil()); }) == "declaration: super_client has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(6, mp::addr(5, 4, 80)); }) == "declaration: bad addr family");
    CHECK(decl_error([](MapSpec& m) { m.set(6, mp::addr(1, 0, 80)); }) == "declaration: bad addr family");
    CHECK(decl_error([](MapSpec& m) { m.set(6, mp::addr(256, 0, 80)); }) == "declaration: addr family out of range");
    CHECK(decl_error([](MapSpec& m) { m.set(6, mp::addr(4, 16, 80)); }) == "declaration: bad addr ip size");
    CHECK(decl_error([](MapSpec& m) { m.set(6, mp::addr(6, 4, 80)); }) == "declaration: bad addr ip size");
    CHECK(decl_error([](MapSpec& m) { m.set(6, mp::addr(0, 4, 80)); }) == "declaration: bad addr ip size");
    CHECK(decl_error([](MapSpec& m) { m.set(6, mp::addr(4, 4, 65536)); }) == "declaration: addr port out of range");
    CHECK(decl_error([](MapSpec& m) { m.set(6, mp::array({mp::uint(4), mp::bin(4, 1)})); }) == "declaration: bad addr");
    CHECK(decl_error([](MapSpec& m) { m.set(6, mp::uint(4)); }) == "declaration: addr has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(7, mp::uint(1ull << 63)); }) == "declaration: issued out of range");
    CHECK(decl_error([](MapSpec& m) { m.set(7, mp::str("now")); }) == "declaration: issued has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(8, mp::str("bob")); }) == "declaration: links has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(8, mp::array({mp::str("ok"), mp::str("not ok")})); }) ==
          "declaration: invalid link");
    CHECK(decl_error([](MapSpec& m) {
              m.set(8, mp::array(std::vector<Bytes>(kMaxLinks + 1, mp::str("bob"))));
          }) == "declaration: too many links");
    CHECK(decl_error([](MapSpec& m) { m.erase(1); }) == "declaration: missing key");
    CHECK(decl_error([](MapSpec& m) { m.erase(0); }) == "declaration: missing user");
    CHECK(decl_error([](MapSpec& m) { m.add(mp::uint(3), mp::uint(10)); }) == "declaration: duplicate key 3");
    CHECK(decl_error([](MapSpec& m) { m.add(mp::uint(99), mp::nil()).add(mp::uint(99), mp::nil()); }) ==
          "declaration: duplicate key 99");
    CHECK(decl_error([](MapSpec& m) { m.add(mp::str("user"), mp::str("x")); }) ==
          "declaration: map key has wrong type");
    CHECK(decl_error([](MapSpec& m) { m.set(7, mp::neg(-5)); }) == "ok");
    CHECK(error_of(decode_declaration(mp::array({mp::str("alice")}))) == "declaration: not a map");
    CHECK(error_of(decode_declaration(Bytes{})) == "truncated declaration");

    // Other payloads.
    CHECK(error_of(decode_chat_ack(mp::map({{mp::uint(0), mp::bin(15, 1)}}))) == "chatAck: bad id size");
    CHECK(error_of(decode_chat_ack(mp::map({}))) == "chatAck: missing id");
    CHECK(error_of(decode_chat(mp::map({}))) == "chat: missing sealed");
    CHECK(error_of(decode_chat(mp::map({{mp::uint(0), mp::bin(3, 0)}}))) == "chat: missing kx");
    CHECK(error_of(decode_chat(mp::map({{mp::uint(0), mp::bin(3, 0)}, {mp::uint(1), mp::bin(31, 0)}}))) ==
          "chat: bad kx size");
    CHECK(error_of(decode_chat(mp::map({{mp::uint(0), mp::str("x")}, {mp::uint(1), mp::bin(32, 0)}}))) ==
          "chat: sealed has wrong type");
    CHECK(error_of(decode_signed_blob(mp::array({mp::bin(3, 0), mp::bin(63, 0)}))) ==
          "signed blob: bad blob signature size");

    MapSpec declare{{{mp::uint(0), mp::array({mp::bin(3, 0), mp::bin(64, 0)})}}};
    CHECK(error_of(decode_declare(declare.bytes())) == "ok");
    CHECK(error_of(decode_declare(MapSpec(declare).set(1, mp::uint(256)).bytes())) == "declare: hops out of range");
    CHECK(error_of(decode_declare(MapSpec(declare).set(2, mp::uint(0)).bytes())) == "declare: reply has wrong type");
    CHECK(error_of(decode_declare(MapSpec(declare).set(5, mp::addr(6, 15, 1)).bytes())) ==
          "declare: bad seen ip size");

    MapSpec ping_req{{{mp::uint(0), mp::str("bob")}, {mp::uint(2), mp::str("al")}, {mp::uint(3), mp::bin(8, 4)}}};
    CHECK(error_of(decode_request_ping(MapSpec(ping_req).set(1, mp::bin(9, 0)).bytes())) ==
          "requestPing: bad target_session size");
    CHECK(error_of(decode_request_ping(MapSpec(ping_req).erase(3).bytes())) ==
          "requestPing: missing requester_session");

    MapSpec msg{{{mp::uint(0), mp::bin(16, 1)}, {mp::uint(1), mp::str("alice")}, {mp::uint(2), mp::str("bob")}}};
    CHECK(error_of(decode_chat_message(msg.bytes())) == "ok");
    CHECK(error_of(decode_chat_message(MapSpec(msg).set(0, mp::bin(17, 1)).bytes())) == "chat message: bad id size");
    CHECK(error_of(decode_chat_message(MapSpec(msg).set(2, mp::str("")).bytes())) == "chat message: invalid to");
    CHECK(error_of(decode_chat_message(MapSpec(msg).set(4, mp::bin(2, 'h')).bytes())) ==
          "chat message: text has wrong type");

    auto known_list_error = [](Bytes session) {
        return error_of(decode_deliver_known_list(mp::map({{mp::uint(2), mp::array({std::move(session)})}})));
    };
    const Bytes good_blob = mp::array({mp::bin(3, 0), mp::bin(64, 0)});
    CHECK(known_list_error(mp::array({good_blob, mp::addr(4, 4, 1), mp::boolean(true), mp::uint(5)})) == "ok");
    CHECK(known_list_error(mp::array({good_blob, mp::addr(4, 4, 1), mp::boolean(true)})) ==
          "deliverKnownList: bad session");
    CHECK(known_list_error(mp::map({{mp::uint(0), good_blob}})) == "deliverKnownList: session has wrong type");
    CHECK(known_list_error(mp::array({mp::array({mp::bin(3, 0), mp::bin(65, 0)}), mp::addr(4, 4, 1),
                                      mp::boolean(true), mp::uint(5)})) ==
          "deliverKnownList: bad session decl signature size");
    CHECK(known_list_error(mp::array({good_blob, mp::addr(7, 4, 1), mp::boolean(true), mp::uint(5)})) ==
          "deliverKnownList: bad session addr family");
    CHECK(known_list_error(mp::array({good_blob, mp::addr(4, 4, 1), mp::uint(1), mp::uint(5)})) ==
          "deliverKnownList: session online has wrong type");
    CHECK(known_list_error(mp::array({good_blob, mp::addr(4, 4, 1), mp::boolean(true), mp::float64()})) ==
          "deliverKnownList: session last_seen has wrong type");
    CHECK(error_of(decode_deliver_known_list(mp::map({{mp::uint(2), mp::map({})}}))) ==
          "deliverKnownList: sessions has wrong type");
}

TEST_CASE("random garbage never crashes, and what decodes re-encodes identically") {
    const std::uint32_t seed = 20240601;
    std::mt19937 rng(seed);
    auto byte = [&] { return static_cast<std::uint8_t>(rng()); };
    INFO("seed " << seed);

    // Uniform garbage, and garbage drawn from msgpack's interesting bytes.
    const Bytes tags{0x80, 0x81, 0x82, 0x85, 0x89, 0x90, 0x92, 0x93, 0xa3, 0xc0, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6,
                     0xcc, 0xcd, 0xcf, 0xd3, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0x00, 0x01, 0x02, 0x04, 0x06,
                     0x08, 0x10, 0x20, 0x40, 0xff};
    for (int i = 0; i < 4000; ++i) {
        CAPTURE(i);
        Bytes b(rng() % 200);
        for (auto& x : b) x = i % 2 ? byte() : tags[rng() % tags.size()];
        check_all_decoders(b);
    }

    // Valid encodings with a few random edits.
    const auto kp = crypto::generate_identity();
    const std::vector<Bytes> valid = {
        encode(sample_declaration()),
        encode(sample_chat_message()),
        encode(sample_declare()),
        encode(sample_request_ping()),
        encode(sample_request_user_list()),
        encode(sample_deliver_known_list()),
        encode(Chat{Bytes(70, 8), pattern<32>(8)}),
        encode(ChatAck{pattern<16>(8)}),
        encode(Ping{77}),
        encode(Pong{78}),
        encode_packet(sample_header(kp, MsgType::pong), encode(Pong{78}), kp.sk),
    };
    const Bytes& packet = valid.back();
    for (const auto& v : valid) check_all_decoders(v, packet);
    for (int i = 0; i < 4000; ++i) {
        CAPTURE(i);
        Bytes b = valid[rng() % valid.size()];
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits && !b.empty(); ++e) {
            const std::size_t at = rng() % b.size();
            switch (rng() % 4) {
            case 0: b[at] = byte(); break;
            case 1: b[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
            case 2: b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), byte()); break;
            case 3: b.erase(b.begin() + static_cast<std::ptrdiff_t>(at)); break;
            }
        }
        check_all_decoders(b, packet);
    }
}

TEST_CASE("FrameReader splits a TCP stream into packets, whatever the chunking") {
    dc::Bytes a{1, 2, 3}, b(5000, 7), stream;
    for (auto* p : {&a, &b}) {
        auto f = dc::wire::frame(*p);
        stream.insert(stream.end(), f.begin(), f.end());
    }
    for (std::size_t chunk : {std::size_t(1), std::size_t(3), std::size_t(4), std::size_t(100), stream.size()}) {
        dc::wire::FrameReader r;
        std::vector<dc::Bytes> got;
        for (std::size_t i = 0; i < stream.size(); i += chunk) {
            r.feed(dc::ByteView(stream.data() + i, std::min(chunk, stream.size() - i)));
            while (auto p = r.next()) got.push_back(*p);
        }
        CHECK_FALSE(r.bad());
        REQUIRE(got.size() == 2);
        CHECK(got[0] == a);
        CHECK(got[1] == b);
        CHECK(r.buffered() == 0);
    }
}

TEST_CASE("FrameReader refuses zero and oversized lengths for good") {
    for (std::uint32_t len : {0u, std::uint32_t(dc::wire::kMaxFrame + 1), 0xffffffffu}) {
        dc::wire::FrameReader r;
        dc::Bytes hdr{std::uint8_t(len >> 24), std::uint8_t(len >> 16), std::uint8_t(len >> 8), std::uint8_t(len)};
        r.feed(hdr);
        CHECK_FALSE(r.next());
        CHECK(r.bad());
        r.feed(dc::wire::frame(dc::Bytes{1}));
        CHECK_FALSE(r.next());
        CHECK(r.buffered() == 0);
    }
}
