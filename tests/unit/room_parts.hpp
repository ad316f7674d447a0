// What the unit tests of the room client's parts (measuring, request flow, delivery)
// share: the client under test with its envelope and context, and peers (relays,
// directory, other users) that sign the packets it receives. No network: a test hands
// packets over and reads what the part sent, with time passed in.
#pragma once

#include "roles/room_context.hpp"

#include "../sim/roles_harness.hpp"

#include <doctest/doctest.h>

namespace dc::roles::parts_test {

using namespace detail;

inline Identity identity(const std::string& name) {
    (void)crypto::init();
    return rolesim::identity_for(name);
}

// Someone who sends the client role packets: a relay, a directory or another user.
struct Peer {
    Peer(const std::string& name, Addr a)
        : addr(a), env(identity(name), core::real_crypto(), a.port, 1e9, 1e9) {}
    const PublicKey& key() const { return env.id().pk; }
    const std::string& name() const { return env.id().user; }
    // The signed packet of type t, as it comes off the wire.
    Bytes packet(const Addr& to, wire::MsgType t, const Bytes& payload) {
        env.send(to, t, payload);
        return env.poll()->data;
    }
    Addr addr;
    Envelope env;
};

// The client under test: its configuration, envelope and context.
struct Client {
    explicit Client(RoomClientConfig c = {}, const std::string& name = "alice")
        : cfg(std::move(c)), env(identity(name), core::real_crypto(), cfg.port, 1e9, 1e9), ctx(cfg, env) {}
    // A packet from peer, opened as the client's dispatcher opens it.
    Incoming receive(TimeMs now, Peer& from, wire::MsgType t, const Bytes& payload) {
        auto in = env.open(now, from.addr, from.packet(addr, t, payload));
        REQUIRE(in.has_value());
        return std::move(in).value();
    }
    std::vector<core::Transmit> sent() {
        std::vector<core::Transmit> v;
        while (auto t = env.poll()) v.push_back(std::move(*t));
        return v;
    }
    // The packets sent of type t, parsed.
    std::vector<std::pair<Addr, wire::Packet>> sent(wire::MsgType t) {
        std::vector<std::pair<Addr, wire::Packet>> v;
        for (auto& x : sent())
            if (auto p = wire::parse_packet(x.data); p && p->header.type == t) v.emplace_back(x.to, std::move(*p));
        return v;
    }
    std::vector<RoomEvent> events() {
        std::vector<RoomEvent> v;
        while (auto e = ctx.poll_event()) v.push_back(std::move(*e));
        return v;
    }
    template <typename E>
    std::vector<E> events_of() {
        std::vector<E> v;
        for (auto& e : events())
            if (auto* x = std::get_if<E>(&e)) v.push_back(*x);
        return v;
    }
    const std::string& me() const { return env.id().user; }

    RoomClientConfig cfg;
    Envelope env;
    RoomContext ctx;
    Addr addr = Addr::v4(127, 0, 0, 1, 7000);
};

inline Addr relay_addr(std::uint8_t n) { return Addr::v4(127, 0, 0, 10 + n, 7400); }

}  // namespace dc::roles::parts_test
