// Golden wire encodings, shared by wire_golden_gen (which wrote the committed files in
// tests/unit/wire_golden/ with the encoders of the time) and wire_golden_test (which
// checks that today's encoders and decoders still agree with them byte for byte).
//
// Three records:
//  - messages.hex: "<case> <codec> <hex>", a value of every message type encoded (all
//    fields set, optional fields absent, values at their limits);
//  - mutations.txt: "<case> <digest>", what every decoder makes of each golden encoding
//    cut short at every length and with every byte changed (accepted and re-encoded to
//    what, or rejected with which message);
//  - corpus.txt: "<target>/<file> <digest>", the same for every file of the fuzz corpus
//    (the file, the file without its first byte, and the payload of what parses as a
//    packet and the body of what parses as a signed blob).
// The forms added with session channels (channelHello, channelWelcome, channel data) are
// recorded apart in the same three ways (channel.hex, channel_mutations.txt,
// channel_corpus.txt, the latter for the corpus files named channel_* and those of
// fuzz_channel/), with their own decoders added to every digest, so that the records
// made before them stay exactly as they were.
#pragma once

#include "darkchat/roles_wire.hpp"
#include "darkchat/wire.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

namespace dc::wire::golden {

// One decoder and its encoder: the outcome of a decode is "E <error>" or "A <hex of the
// re-encoding>".
struct Codec {
    std::string name;
    std::function<std::string(ByteView)> run;
};

template <typename T>
std::string outcome(const Result<T>& r) {
    if (!r) return "E " + r.error();
    return "A " + to_hex(encode(*r));
}

inline std::string packet_outcome(ByteView b) {
    const auto r = parse_packet(b);
    if (!r) return "E " + r.error();
    return "A " + to_hex(packet_header(r->header, r->payload)) + " " +
           to_hex(assemble_packet(r->signed_header, r->sig));
}

inline const std::vector<Codec>& codecs() {
    static const std::vector<Codec> all = {
        {"packet", packet_outcome},
        {"peek", [](ByteView b) {
             const auto t = peek_type(b);
             return t ? std::to_string(static_cast<int>(*t)) : std::string("-");
         }},
        {"signed_blob", [](ByteView b) { return outcome(decode_signed_blob(b)); }},
        {"declaration", [](ByteView b) { return outcome(decode_declaration(b)); }},
        {"chat_message", [](ByteView b) { return outcome(decode_chat_message(b)); }},
        {"declare", [](ByteView b) { return outcome(decode_declare(b)); }},
        {"request_ping", [](ByteView b) { return outcome(decode_request_ping(b)); }},
        {"request_user_list", [](ByteView b) { return outcome(decode_request_user_list(b)); }},
        {"deliver_known_list", [](ByteView b) { return outcome(decode_deliver_known_list(b)); }},
        {"chat", [](ByteView b) { return outcome(decode_chat(b)); }},
        {"chat_ack", [](ByteView b) { return outcome(decode_chat_ack(b)); }},
        {"ping", [](ByteView b) { return outcome(decode_ping(b)); }},
        {"pong", [](ByteView b) { return outcome(decode_pong(b)); }},
        {"relay_heartbeat", [](ByteView b) { return outcome(decode_relay_heartbeat(b)); }},
        {"relay_ack", [](ByteView b) { return outcome(decode_relay_ack(b)); }},
        {"client_heartbeat", [](ByteView b) { return outcome(decode_client_heartbeat(b)); }},
        {"client_state", [](ByteView b) { return outcome(decode_client_state(b)); }},
        {"chat_request", [](ByteView b) { return outcome(decode_chat_request(b)); }},
        {"chat_answer", [](ByteView b) { return outcome(decode_chat_answer(b)); }},
        {"probe", [](ByteView b) { return outcome(decode_probe(b)); }},
        {"probe_reply", [](ByteView b) { return outcome(decode_probe_reply(b)); }},
        {"ticket", [](ByteView b) { return outcome(decode_ticket(b)); }},
        {"member_key", [](ByteView b) { return outcome(decode_member_key(b)); }},
        {"room_join", [](ByteView b) { return outcome(decode_room_join(b)); }},
        {"room_roster", [](ByteView b) { return outcome(decode_room_roster(b)); }},
        {"line_body", [](ByteView b) { return outcome(decode_line_body(b)); }},
        {"room_line", [](ByteView b) { return outcome(decode_room_line(b)); }},
        {"ack_body", [](ByteView b) { return outcome(decode_ack_body(b)); }},
        {"room_ack", [](ByteView b) { return outcome(decode_room_ack(b)); }},
        {"room_leave", [](ByteView b) { return outcome(decode_room_leave(b)); }},
        {"room_refused", [](ByteView b) { return outcome(decode_room_refused(b)); }},
        {"invite", [](ByteView b) { return outcome(decode_invite(b)); }},
        {"invite_answer", [](ByteView b) { return outcome(decode_invite_answer(b)); }},
        {"room_file", [](ByteView b) { return outcome(decode_room_file(b)); }},
    };
    return all;
}

// The decoders of the session channels' forms.
inline const std::vector<Codec>& channel_codecs() {
    static const std::vector<Codec> all = {
        {"channel_hello", [](ByteView b) { return outcome(decode_channel_hello(b)); }},
        {"channel_welcome", [](ByteView b) { return outcome(decode_channel_welcome(b)); }},
        {"channel_data", [](ByteView b) { return outcome(parse_channel_data(b)); }},
    };
    return all;
}

inline const Codec* find_codec(std::string_view name) {
    for (const auto* list : {&codecs(), &channel_codecs()})
        for (const auto& c : *list)
            if (c.name == name) return &c;
    return nullptr;
}

// FNV-1a, 64 bits: enough to tell two lists of outcomes apart.
class Digest {
public:
    void add(std::string_view s) {
        for (unsigned char c : s) h_ = (h_ ^ c) * 0x100000001b3ULL;
        h_ = (h_ ^ 0xff) * 0x100000001b3ULL;  // separator
    }
    std::string hex() const {
        static const char* d = "0123456789abcdef";
        std::string s(16, '0');
        for (int i = 0; i < 16; ++i) s[15 - i] = d[(h_ >> (4 * i)) & 0xf];
        return s;
    }

private:
    std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

// Every decoder's outcome on b, added to d (with channels: the channel forms' too).
inline void all_outcomes(ByteView b, Digest& d, bool channels = false) {
    for (const auto& c : codecs()) d.add(c.run(b));
    if (channels)
        for (const auto& c : channel_codecs()) d.add(c.run(b));
}

// ---------------------------------------------------------------------------
// Values

inline std::string name_of(std::size_t n, char fill) { return std::string(n, fill); }

inline std::vector<std::string> users(std::size_t n) {
    std::vector<std::string> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back("user" + std::to_string(i));
    return v;
}

template <std::size_t N>
std::array<std::uint8_t, N> filled(std::uint8_t start) {
    std::array<std::uint8_t, N> a{};
    for (std::size_t i = 0; i < N; ++i) a[i] = static_cast<std::uint8_t>(start + i);
    return a;
}

inline Addr v6(std::uint16_t port) {
    Addr a;
    a.family = 6;
    a.ip = filled<16>(0xf0);
    a.port = port;
    return a;
}

inline SignedBlob blob(std::size_t body, std::uint8_t fill) {
    return SignedBlob{Bytes(body, fill), filled<64>(fill)};
}

constexpr std::uint64_t kU64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint32_t kU32 = std::numeric_limits<std::uint32_t>::max();
constexpr TimeMs kMinTime = std::numeric_limits<TimeMs>::min();
constexpr TimeMs kMaxTime = std::numeric_limits<TimeMs>::max();

struct Case {
    std::string name;
    std::string codec;
    Bytes bytes;
};

inline std::vector<Case> cases() {
    std::vector<Case> c;
    auto add = [&](std::string name, std::string codec, Bytes b) { c.push_back({std::move(name), std::move(codec), std::move(b)}); };

    // Core payloads and signed bodies.
    Declaration d;
    add("declaration_default", "declaration", encode(d));
    d = Declaration{"alice", filled<32>(1), filled<8>(2), 7, false, true, Addr::v4(10, 1, 2, 3, 7300), 1700000000123,
                    {"bob", "carol"}, filled<32>(3)};
    add("declaration_full", "declaration", encode(d));
    d = Declaration{name_of(32, 'z'), filled<32>(200), filled<8>(250), kU64, true, false, v6(65535), kMaxTime,
                    users(kMaxLinks), filled<32>(255)};
    add("declaration_limits", "declaration", encode(d));
    d.issued = kMinTime;
    d.addr = Addr{};
    d.addr.port = 1;
    add("declaration_negative_time", "declaration", encode(d));
    d.issued = -1;
    add("declaration_minus_one", "declaration", encode(d));

    ChatMessage m;
    add("chat_message_default", "chat_message", encode(m));
    m = ChatMessage{filled<16>(4), "alice", "bob", 1700000000456, "hello", filled<8>(5), 0, {}};
    add("chat_message_unnumbered", "chat_message", encode(m));
    m.seq = 12;
    add("chat_message_numbered", "chat_message", encode(m));
    m = ChatMessage{filled<16>(9), name_of(32, 'a'), name_of(1, 'b'), kMinTime, std::string(kMaxText, 'x'),
                    filled<8>(6), kU64, {}};
    add("chat_message_limits", "chat_message", encode(m));
    m.text = std::string(200, 'y');
    m.sent = 127;
    m.seq = 128;
    add("chat_message_str8", "chat_message", encode(m));

    Declare dc;
    add("declare_default", "declare", encode(dc));
    dc = Declare{blob(40, 7), 2, true, true, kU64, Addr::v4(192, 168, 0, 1, 1)};
    add("declare_full", "declare", encode(dc));
    dc = Declare{blob(0, 8), 255, false, false, 0, v6(0)};
    add("declare_limits", "declare", encode(dc));

    RequestPing rp;
    add("request_ping_default", "request_ping", encode(rp));
    rp = RequestPing{"bob", filled<8>(10), "alice", filled<8>(11), Addr::v4(10, 0, 0, 9, 7301), 99, 1};
    add("request_ping_full", "request_ping", encode(rp));
    rp = RequestPing{"", {}, name_of(32, 'q'), filled<8>(12), v6(65535), kU64, 255};
    add("request_ping_limits", "request_ping", encode(rp));

    add("request_user_list_default", "request_user_list", encode(RequestUserList{}));
    add("request_user_list_full", "request_user_list", encode(RequestUserList{55, {"bob", "carol"}, {}}));
    add("request_user_list_limits", "request_user_list", encode(RequestUserList{kU64, users(kMaxLinks), {}}));
    add("request_user_list_page", "request_user_list", encode(RequestUserList{56, {"bob"}, "carol"}));
    add("request_user_list_page_limits", "request_user_list",
        encode(RequestUserList{kU64, users(kMaxLinks), name_of(32, 'z')}));

    add("deliver_known_list_default", "deliver_known_list", encode(DeliverKnownList{}));
    DeliverKnownList kl{77, true, {}, {}};
    kl.sessions.push_back(KnownSession{blob(30, 1), Addr::v4(10, 0, 0, 2, 7300), true, 1700000000999});
    kl.sessions.push_back(KnownSession{blob(0, 2), Addr{}, false, kMinTime});
    kl.sessions.push_back(KnownSession{blob(300, 3), v6(9), true, kMaxTime});
    add("deliver_known_list_full", "deliver_known_list", encode(kl));
    kl = DeliverKnownList{kU64, false, std::vector<KnownSession>(20, KnownSession{blob(1, 4), Addr{}, false, -5}), {}};
    add("deliver_known_list_many", "deliver_known_list", encode(kl));
    kl = DeliverKnownList{78, false, {KnownSession{blob(30, 5), Addr::v4(10, 0, 0, 3, 7300), true, 1700000001000}},
                          "carol"};
    add("deliver_known_list_page", "deliver_known_list", encode(kl));
    kl.next = name_of(32, 'z');
    add("deliver_known_list_page_limits", "deliver_known_list", encode(kl));

    add("chat_default", "chat", encode(Chat{}));
    add("chat_no_base", "chat", encode(Chat{Bytes(100, 0xab), filled<32>(13), 0}));
    add("chat_base", "chat", encode(Chat{Bytes(300, 0xcd), filled<32>(14), 3}));
    add("chat_limits", "chat", encode(Chat{Bytes(1000, 0xef), filled<32>(15), kU64}));

    add("chat_ack_default", "chat_ack", encode(ChatAck{}));
    add("chat_ack_held", "chat_ack", encode(ChatAck{filled<16>(16), true, 0}));
    add("chat_ack_want", "chat_ack", encode(ChatAck{filled<16>(17), false, 4}));
    add("chat_ack_held_want", "chat_ack", encode(ChatAck{filled<16>(18), true, kU64}));
    add("chat_ack_upto", "chat_ack", encode(ChatAck{filled<16>(19), false, 0, {filled<16>(20)}, 7}));

    add("ping_default", "ping", encode(Ping{}));
    add("ping_full", "ping", encode(Ping{0x12345678}));
    add("ping_limits", "ping", encode(Ping{kU64}));
    add("pong_default", "pong", encode(Pong{}));
    add("pong_full", "pong", encode(Pong{65536}));
    add("pong_limits", "pong", encode(Pong{kU64}));

    add("signed_blob_default", "signed_blob", encode(SignedBlob{}));
    add("signed_blob_full", "signed_blob", encode(blob(70, 9)));

    // Role payloads and signed bodies.
    add("relay_heartbeat_default", "relay_heartbeat", encode(RelayHeartbeat{}));
    add("relay_heartbeat_full", "relay_heartbeat", encode(RelayHeartbeat{5, 3, 12, 140, Addr::v4(10, 0, 0, 7, 7400)}));
    add("relay_heartbeat_limits", "relay_heartbeat", encode(RelayHeartbeat{kU64, kU32, kU32, kU32, v6(65535)}));

    add("relay_ack_default", "relay_ack", encode(RelayAck{}));
    add("relay_ack_full", "relay_ack", encode(RelayAck{5, 0xdeadbeef}));
    add("relay_ack_limits", "relay_ack", encode(RelayAck{kU64, kU64}));

    add("client_heartbeat_default", "client_heartbeat", encode(ClientHeartbeat{}));
    ClientHeartbeat ch{3, 4, true, {{filled<32>(20), 15}, {filled<32>(21), 250}}, {{blob(20, 5), {"alice", "bob"}}}, 2, {}};
    add("client_heartbeat_full", "client_heartbeat", encode(ch));
    ch = ClientHeartbeat{kU64, kU64, false, std::vector<DelayEntry>(kMaxRoleRelays, DelayEntry{filled<32>(22), kU32}),
                         std::vector<HeldChat>(3, HeldChat{blob(2, 6), users(kMaxRoomMembers)}), kU64, {}};
    add("client_heartbeat_limits", "client_heartbeat", encode(ch));

    add("client_state_default", "client_state", encode(ClientState{}));
    ClientState cs;
    cs.version = 9;
    cs.boot = 10;
    cs.unchanged = false;
    cs.relays = {{filled<32>(30), Addr::v4(10, 0, 0, 7, 7400)}, {filled<32>(31), v6(7401)}};
    cs.outgoing = {{1, "bob", 2, 3, "waiting"}, {2, "carol", 0, 0, ""}};
    cs.incoming = {{4, "dave", {"erin", "frank"}}};
    ChatInfo ci{filled<16>(32), filled<32>(33), Addr::v4(10, 0, 0, 8, 7400), 2, {"alice", "bob"}, blob(50, 11), 1, 120, 80, {"carol"}};
    cs.chats = {ci};
    cs.report_seen = 6;
    add("client_state_full", "client_state", encode(cs));
    cs.version = kU64;
    cs.boot = kU64;
    cs.unchanged = true;
    cs.outgoing = {{kU64, name_of(32, 'o'), 255, kU32, std::string(kMaxReason, 'r')}};
    cs.incoming = {{kU64, name_of(32, 'i'), users(kMaxRoomMembers)}};
    ci.epoch = kU32;
    ci.reason = 255;
    ci.old_ms = kU32;
    ci.new_ms = kU32;
    ci.members = users(kMaxRoomMembers);
    ci.pending = users(kMaxRoomMembers);
    cs.chats = {ci, ci};
    cs.report_seen = kU64;
    add("client_state_limits", "client_state", encode(cs));

    add("chat_request_default", "chat_request", encode(ChatRequest{}));
    add("chat_request_full", "chat_request", encode(ChatRequest{8, {"bob", "carol"}}));
    add("chat_request_limits", "chat_request", encode(ChatRequest{kU64, users(kMaxRoomMembers)}));

    add("chat_answer_default", "chat_answer", encode(ChatAnswer{}));
    add("chat_answer_full", "chat_answer", encode(ChatAnswer{8, true}));

    add("probe_default", "probe", encode(Probe{}));
    add("probe_full", "probe", encode(Probe{11, Bytes(100, 0)}));
    add("probe_limits", "probe", encode(Probe{kU64, Bytes(kMaxProbePadding, 0x55)}));
    add("probe_reply_default", "probe_reply", encode(ProbeReply{}));
    add("probe_reply_full", "probe_reply", encode(ProbeReply{kU64}));

    add("ticket_default", "ticket", encode(Ticket{}));
    Ticket t{filled<16>(40), filled<32>(41), Addr::v4(10, 0, 0, 7, 7400), 3,
             {{"alice", filled<32>(42)}, {"bob", filled<32>(43)}}, 1700000001000, ""};
    add("ticket_full", "ticket", encode(t));
    t.issuer = "alice";
    t.issued = kMinTime;
    t.epoch = kU32;
    t.relay = v6(65535);
    t.members.assign(kMaxRoomMembers, TicketMember{name_of(32, 'm'), filled<32>(44)});
    add("ticket_limits", "ticket", encode(t));

    add("member_key_default", "member_key", encode(MemberKey{}));
    add("member_key_full", "member_key", encode(MemberKey{filled<16>(45), "alice", filled<32>(46)}));

    add("room_join_default", "room_join", encode(RoomJoin{}));
    add("room_join_full", "room_join", encode(RoomJoin{blob(80, 12), blob(60, 13)}));

    add("room_roster_default", "room_roster", encode(RoomRoster{}));
    add("room_roster_full", "room_roster", encode(RoomRoster{filled<16>(47), 4, {blob(60, 14), blob(61, 15)}, {}, false, {}}));
    add("room_roster_hop", "room_roster",
        encode(RoomRoster{filled<16>(64), 5, {blob(62, 25)}, KxPublicKey{9, 8, 7, 6, 5, 4, 3, 2, 1}, false, {}}));
    add("room_roster_hop_up", "room_roster",
        encode(RoomRoster{filled<16>(65), 6, {blob(63, 26)}, KxPublicKey{1, 2, 3, 4, 5, 6, 7, 8, 9}, true, {}}));
    add("room_roster_addrs", "room_roster",
        encode(RoomRoster{filled<16>(66), 7, {blob(63, 26), blob(64, 27)}, KxPublicKey{3, 1}, true,
                          {Addr::v4(127, 0, 0, 2, 7301), Addr::v4(10, 0, 0, 9, 65535)}}));
    add("room_roster_limits",
        "room_roster", encode(RoomRoster{filled<16>(48), kU32, std::vector<SignedBlob>(kMaxRoomMembers, blob(3, 16)), {}, false, {}}));

    add("line_body_default", "line_body", encode(LineBody{}));
    LineBody lb{filled<16>(49), "alice", 3, 1, filled<16>(50), 1700000002000, {{"bob", Bytes(40, 1)}, {"carol", Bytes(41, 2)}}, 77, {}, {}};
    add("line_body_full", "line_body", encode(lb));
    lb = LineBody{filled<16>(51), name_of(32, 'l'), kU64, kU64, filled<16>(52), kMinTime,
                  std::vector<SealedCopy>(4, SealedCopy{name_of(32, 'c'), Bytes(kMaxSealed, 3)}), kU64, {}, {}};
    add("line_body_limits", "line_body", encode(lb));
    lb = LineBody{filled<16>(58), "alice", 7, 5, filled<16>(59), 1700000003000, {{"bob", {}}, {"carol", Bytes(80, 4)}}, 78,
                  Bytes(20, 5), {{filled<16>(60), 1700000003001, Bytes(18, 6)}, {filled<16>(61), 1700000003002, Bytes(17, 7)}}};
    add("line_body_packed", "line_body", encode(lb));

    add("room_line_default", "room_line", encode(RoomLine{}));
    add("room_line_full", "room_line", encode(RoomLine{filled<16>(53), blob(90, 17), {}, {}}));
    add("room_line_tagged", "room_line", encode(RoomLine{filled<16>(57), {}, Bytes(90, 19), Bytes(32, 20)}));
    add("room_line_limits", "room_line",
        encode(RoomLine{filled<16>(60), {}, Bytes(90, 21), Bytes(kMemberTag * kMaxRoomMembers, 22)}));

    add("ack_body_default", "ack_body", encode(AckBody{}));
    add("ack_body_full", "ack_body", encode(AckBody{filled<16>(54), "bob", "alice", 5, 77, {}}));
    add("ack_body_limits", "ack_body", encode(AckBody{filled<16>(55), name_of(32, 'f'), name_of(32, 'g'), kU64, kU64, {}}));
    add("ack_body_key", "ack_body", encode(AckBody{filled<16>(62), "bob", "alice", 6, 78, Bytes(kKeyMark, 8)}));

    add("room_ack_default", "room_ack", encode(RoomAck{}));
    add("room_ack_full", "room_ack", encode(RoomAck{filled<16>(56), "alice", blob(70, 18), {}, {}, {}}));
    add("room_ack_tagged", "room_ack", encode(RoomAck{filled<16>(62), "alice", {}, Bytes(70, 23), Bytes(kMemberTag, 24), {}}));
    add("room_ack_gathered", "room_ack",
        encode(RoomAck{filled<16>(63), "alice", {}, Bytes(70, 25), Bytes(kMemberTag, 26),
                       {{Bytes(70, 27), Bytes(kMemberTag, 28)}, {Bytes(72, 29), Bytes(kMemberTag, 30)}}}));

    add("room_leave_default", "room_leave", encode(RoomLeave{}));
    add("room_leave_full", "room_leave", encode(RoomLeave{filled<16>(57)}));

    add("room_refused_default", "room_refused", encode(RoomRefused{}));
    add("room_refused_full", "room_refused", encode(RoomRefused{filled<16>(58), "room full"}));
    add("room_refused_hop", "room_refused", encode(RoomRefused{{}, "not joined", 0x9abcdef0u}));
    add("room_refused_limits", "room_refused", encode(RoomRefused{filled<16>(59), std::string(kMaxReason, 'w')}));

    add("invite_default", "invite", encode(Invite{}));
    add("invite_full", "invite", encode(Invite{6, blob(100, 19)}));

    add("invite_answer_default", "invite_answer", encode(InviteAnswer{}));
    add("invite_answer_full", "invite_answer", encode(InviteAnswer{6, filled<16>(60), 2, 2}));
    add("invite_answer_limits", "invite_answer", encode(InviteAnswer{kU64, filled<16>(61), kU32, 255}));

    add("room_file_default", "room_file", encode(RoomFile{}));
    add("room_file_full", "room_file", encode(RoomFile{filled<16>(66), Bytes(300, 7)}));
    add("room_file_long", "room_file", encode(RoomFile{filled<16>(67), Bytes(2000, 8)}));

    // Packets around some of the payloads above (the signature is a fixed pattern).
    Header h{MsgType::chat, "alice", filled<8>(70), 7300, filled<32>(71)};
    const Bytes payload = encode(Chat{Bytes(50, 1), filled<32>(72), 2});
    add("packet_chat", "packet", assemble_packet(packet_header(h, payload), filled<64>(73)));
    h = Header{MsgType::invite_answer, name_of(32, 'p'), filled<8>(74), 65535, filled<32>(75)};
    add("packet_role", "packet", assemble_packet(packet_header(h, encode(InviteAnswer{1, filled<16>(76), 1, 1})),
                                                 filled<64>(77)));
    h.type = MsgType::ping;
    add("packet_empty_payload", "packet", assemble_packet(packet_header(h, {}), filled<64>(78)));
    return c;
}

// The session channels' forms.
inline std::vector<Case> channel_cases() {
    std::vector<Case> c;
    auto add = [&](std::string name, std::string codec, Bytes b) { c.push_back({std::move(name), std::move(codec), std::move(b)}); };
    add("channel_hello_default", "channel_hello", encode(ChannelHello{}));
    add("channel_hello_full", "channel_hello",
        encode(ChannelHello{filled<32>(80), filled<32>(81), filled<32>(82), 0x01020304, 1700000003000}));
    add("channel_hello_limits", "channel_hello",
        encode(ChannelHello{filled<32>(83), filled<32>(84), filled<32>(85), kU32, kMaxTime}));
    add("channel_hello_negative_time", "channel_hello",
        encode(ChannelHello{filled<32>(86), filled<32>(87), filled<32>(88), 1, kMinTime}));
    add("channel_welcome_default", "channel_welcome", encode(ChannelWelcome{}));
    add("channel_welcome_full", "channel_welcome",
        encode(ChannelWelcome{filled<32>(89), filled<32>(90), filled<32>(91), 0x0a0b0c0d, 0x01020304, false}));
    add("channel_welcome_stale", "channel_welcome",
        encode(ChannelWelcome{filled<32>(92), filled<32>(93), {}, 0, 0x01020304, true}));
    add("channel_welcome_limits", "channel_welcome",
        encode(ChannelWelcome{filled<32>(94), filled<32>(95), filled<32>(96), kU32, kU32, false}));
    add("channel_data_smallest", "channel_data", encode(ChannelData{1, 0, Bytes(kChannelTag + 1, 0)}));
    add("channel_data_full", "channel_data", encode(ChannelData{0x01020304, 0x0102030405060708ULL, Bytes(117, 0x5a)}));
    add("channel_data_limits", "channel_data",
        encode(ChannelData{kU32, kU64, Bytes(kMaxDatagram - kChannelPrefix, 0xa5)}));
    Header h{MsgType::channel_hello, "alice", filled<8>(97), 7300, filled<32>(98)};
    add("packet_channel_hello", "packet",
        assemble_packet(packet_header(h, encode(ChannelHello{filled<32>(99), filled<32>(100), filled<32>(101), 5, 6})),
                        filled<64>(102)));
    h.type = MsgType::channel_welcome;
    add("packet_channel_welcome", "packet",
        assemble_packet(packet_header(h, encode(ChannelWelcome{filled<32>(103), filled<32>(104), {}, 0, 5, true})),
                        filled<64>(105)));
    return c;
}

// ---------------------------------------------------------------------------
// The three records, as lines

inline std::vector<std::string> message_lines(bool channels = false) {
    std::vector<std::string> out;
    for (const auto& c : channels ? channel_cases() : cases()) out.push_back(c.name + " " + c.codec + " " + to_hex(c.bytes));
    return out;
}

// Cut short at every length and every byte changed (xor 0x01, and set to 0xc0):
// only for the cases small enough to make this cheap.
inline std::vector<std::string> mutation_lines(bool channels = false) {
    std::vector<std::string> out;
    for (const auto& c : channels ? channel_cases() : cases()) {
        if (c.bytes.size() > 600) continue;
        Digest d;
        for (std::size_t n = 0; n <= c.bytes.size(); ++n) all_outcomes(ByteView(c.bytes).first(n), d, channels);
        Bytes b = c.bytes;
        for (std::size_t i = 0; i < b.size(); ++i) {
            const std::uint8_t was = b[i];
            for (std::uint8_t v : {static_cast<std::uint8_t>(was ^ 0x01), std::uint8_t{0xc0}}) {
                b[i] = v;
                all_outcomes(b, d, channels);
            }
            b[i] = was;
        }
        out.push_back(c.name + " " + d.hex());
    }
    return out;
}

inline Bytes read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A corpus file added with session channels (recorded in channel_corpus.txt).
inline bool channel_file(const std::filesystem::path& relative) {
    return *relative.begin() == "fuzz_channel" || relative.filename().string().starts_with("channel_");
}

inline std::vector<std::string> corpus_lines(const std::filesystem::path& corpus, bool channels = false) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(corpus))
        if (e.is_regular_file() && channel_file(std::filesystem::relative(e.path(), corpus)) == channels)
            files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto& f : files) {
        const Bytes b = read_file(f);
        Digest d;
        all_outcomes(b, d, channels);
        if (!b.empty()) all_outcomes(ByteView(b).subspan(1), d, channels);
        for (const ByteView v : {ByteView(b), b.empty() ? ByteView() : ByteView(b).subspan(1)}) {
            if (const auto p = parse_packet(v)) all_outcomes(p->payload, d, channels);
            if (const auto s = decode_signed_blob(v)) all_outcomes(s->body, d, channels);
        }
        out.push_back(std::filesystem::relative(f, corpus).generic_string() + " " + d.hex());
    }
    return out;
}

}  // namespace dc::wire::golden
