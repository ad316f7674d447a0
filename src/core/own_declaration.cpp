#include "core/own_declaration.hpp"

#include <algorithm>

namespace dc::core {

SessionRecord OwnDeclaration::declare(Envelope& env, wire::Declaration d, TimeMs now) {
    seq_ = std::max<std::uint64_t>(seq_ + 1, static_cast<std::uint64_t>(now) * 1000);
    online_ = d.online;
    d.seq = seq_;
    blob_ = env.sign(wire::encode(d));
    SessionRecord r;
    r.user = d.user;
    r.session = d.session;
    r.decl = blob_;
    r.seq = seq_;
    r.addr = d.addr;
    r.online = d.online;
    r.last_seen = now;
    return r;
}

Bytes OwnDeclaration::payload(std::uint8_t hops, bool reply, bool explode, std::uint64_t nonce) const {
    wire::Declare p;
    p.decl = blob_;
    p.hops = hops;
    p.reply = reply;
    p.explode = explode;
    p.nonce = nonce;
    return wire::encode(p);
}

}  // namespace dc::core
