// Micro-benchmark of the wire codec: encode and decode of the payloads a node handles
// most (a chat message body, a declaration, a chat payload, an ack) and of a large role
// payload (a directory's client state): ns per encode+decode and per decode, median of
// rounds.
//
//   wire_bench [rounds [name]]     (default 15 rounds; name: only the items it starts)
//
// Build two trees and run both binaries back to back to compare codec versions. On a
// busy machine compare instructions instead of time: with rounds 1 and one item, run
// under valgrind --tool=callgrind and read the total Ir.

#include "darkchat/roles_wire.hpp"
#include "darkchat/wire.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

using namespace dc;
using namespace dc::wire;

namespace {

volatile std::size_t g_sink = 0;  // keeps the work from being optimised away

struct Ops {
    std::function<void()> round_trip;  // encode, then decode
    std::function<void()> decode;      // decode of bytes encoded once
};

template <typename T, typename Decode>
Ops ops(T value, Decode decode) {
    Bytes bytes = encode(value);
    return {[value = std::move(value), decode] {
                const Bytes b = encode(value);
                auto r = decode(b);
                g_sink = g_sink + b.size() + (r ? 1 : 0);
            },
            [bytes = std::move(bytes), decode] {
                auto r = decode(bytes);
                g_sink = g_sink + (r ? 1 : 0);
            }};
}

double ns_per_op(const std::function<void()>& op, int rounds, int per_round) {
    std::vector<double> ns;
    for (int r = 0; r < rounds; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < per_round; ++i) op();
        const auto t1 = std::chrono::steady_clock::now();
        ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / per_round);
    }
    std::sort(ns.begin(), ns.end());
    return ns[ns.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 15;
    const std::string only = argc > 2 ? argv[2] : "";

    ChatMessage m;
    m.id.fill(7);
    m.from = "alice";
    m.to = "bob";
    m.sent = 1700000000123;
    m.text = "hello bob, this is a line of chat of a typical length";
    m.session.fill(3);
    m.seq = 42;

    Declaration d;
    d.user = "alice";
    d.key.fill(1);
    d.session.fill(2);
    d.seq = 17;
    d.addr = Addr::v4(10, 0, 0, 2, 7300);
    d.issued = 1700000000123;
    for (int i = 0; i < 10; ++i) d.links.push_back("contact" + std::to_string(i));
    d.kx.fill(5);

    Chat c{Bytes(180, 0xab), {}, 3};
    ChatAck a{};
    a.id.fill(9);

    ClientState cs;
    cs.version = 9;
    cs.boot = 10;
    for (int i = 0; i < 8; ++i) cs.relays.push_back({PublicKey{}, Addr::v4(10, 0, 0, 7, 7400)});
    ChatInfo ci;
    ci.relay = Addr::v4(10, 0, 0, 8, 7400);
    ci.members = {"alice", "bob", "carol"};
    ci.ticket = SignedBlob{Bytes(120, 1), {}};
    cs.chats.assign(4, ci);

    struct Item {
        const char* name;
        Ops op;
        int per_round;
    };
    const std::vector<Item> items = {
        {"chat message (signed body)", ops(m, decode_chat_message), 20000},
        {"declaration (10 links)", ops(d, decode_declaration), 20000},
        {"chat payload", ops(c, decode_chat), 20000},
        {"chat ack", ops(a, decode_chat_ack), 20000},
        {"client state (8 relays, 4 chats)", ops(cs, decode_client_state), 4000},
    };
    std::printf("%-34s %14s %14s\n", "ns per operation (median)", "encode+decode", "decode");
    for (const auto& it : items)
        if (std::string(it.name).starts_with(only))
            std::printf("%-34s %14.0f %14.0f\n", it.name, ns_per_op(it.op.round_trip, rounds, it.per_round),
                ns_per_op(it.op.decode, rounds, it.per_round));
    return g_sink == 0;
}
