// Fuzz target: a core::Node fed datagrams, commands and the passing of time
// (node_harness.hpp describes the input).
//
// Checked after every step: the node did not crash; everything it sent parses (and,
// with real signatures, verifies) as a packet from itself whose payload decodes;
// its timers move on. With real signatures (flag kTrusting unset), random bytes
// cannot forge Ed25519, so the node knows only the users and sessions it started
// with (plus names the user typed) until some datagram carries a valid signature,
// and in any case no user beyond the fixed identities the corpus signs for.

#include "node_harness.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <utility>

using namespace dc;

namespace {

using SessionKey = std::pair<std::string, SessionId>;

struct Known {
    std::set<std::string> names;
    std::set<SessionKey> sessions;
};

Known known(const core::Node& node) {
    Known k;
    for (const auto& u : node.users()) {
        k.names.insert(u.name);
        for (const auto& s : u.sessions) k.sessions.insert({u.name, s.session});
    }
    return k;
}

void check_sent(fuzz::NodeHarness& h) {
    for (const auto& t : h.sent) {
        auto p = h.crypto.trusting ? wire::parse_packet(t.data) : wire::decode_packet(t.data);
        if (!p) fuzz::die("node", "sent a packet that does not decode: " + p.error());
        fuzz::expect(p->header.from_user == fuzz::kSelf.name && p->header.from_session == fuzz::kSelf.session &&
                         p->header.from_key == fuzz::kSelf.pk && p->header.from_port == fuzz::kSelf.addr.port,
                     "node", "sent a packet with someone else's header");
        fuzz::expect(fuzz::check_payload(p->header.type, p->payload), "node", "sent a payload that does not decode");
    }
    h.sent.clear();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool ready = fuzz::init();
    (void)ready;
    fuzz::NodeHarness h;
    const auto records = h.start(ByteView(data, size));
    const Known start = known(*h.node);
    bool signed_seen = false;

    auto check = [&] {
        check_sent(h);
        if (h.crypto.trusting) return;
        const Known now = known(*h.node);
        for (const auto& n : now.names)
            fuzz::expect(n == "self" || n == "alice" || n == "bob" || n == "carol" || n == fuzz::kDave, "node",
                         "knows a user nobody signed for: " + n);
        if (signed_seen) return;
        for (const auto& n : now.names)
            fuzz::expect(start.names.count(n) || std::count(h.commanded.begin(), h.commanded.end(), n), "node",
                         "learnt a user from unsigned input: " + n);
        for (const auto& s : now.sessions)
            fuzz::expect(start.sessions.count(s), "node", "learnt a session from unsigned input: " + s.first);
    };
    check();

    for (const auto& rec : records) {
        if (!h.crypto.trusting && rec.kind % 16 < 11 && wire::decode_packet(rec.data)) signed_seen = true;
        h.run(rec, check);
    }
    // Let the timers play out for a while (probes, retries, refreshes).
    h.advance(h.now + 120000, check);
    return 0;
}
