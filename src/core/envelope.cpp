#include "core/envelope.hpp"

#include "darkchat/crypto.hpp"

namespace dc::core {

Envelope::Envelope(Identity id, Crypto& crypto, std::uint16_t port, double ip_rate, double ip_burst)
    : id_(std::move(id)), crypto_(crypto), port_(port), ip_rate_(ip_rate), ip_burst_(ip_burst) {}

Envelope::~Envelope() { crypto::wipe(id_.sk); }

std::optional<Transmit> Envelope::seal(const Addr& to, wire::MsgType t, ByteView payload) {
    if (!to.valid() || to.port == 0) return std::nullopt;
    wire::Header h;
    h.type = t;
    h.from_user = id_.user;
    h.from_session = id_.session;
    h.from_port = port_;
    h.from_key = id_.pk;
    const Bytes header = wire::packet_header(h, payload);
    return Transmit{to, wire::assemble_packet(header, crypto_.sign(id_.sk, header)), false};
}

wire::SignedBlob Envelope::sign(Bytes body) {
    wire::SignedBlob b;
    b.sig = crypto_.sign(id_.sk, body);
    b.body = std::move(body);
    return b;
}

std::uint64_t Envelope::nonce() {
    std::uint64_t n = 0;
    while (n == 0) crypto_.random(std::span(reinterpret_cast<std::uint8_t*>(&n), sizeof n));
    return n;
}

}  // namespace dc::core
