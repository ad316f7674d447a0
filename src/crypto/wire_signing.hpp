// Wire values signed and checked with a secret key in hand, for tests, tools and
// benchmarks. Nothing in src/ uses this: the core and the roles sign and verify through
// their injected Crypto (packet_header + assemble_packet, parse_packet + verify), so the
// wire library needs no crypto. Header-only: users link dc_wire and dc_crypto.
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/wire.hpp"

#include <utility>

namespace dc::wire {

// A whole packet from h and payload, signed with sk.
inline Bytes encode_packet(const Header& h, ByteView payload, const SecretKey& sk) {
    const Bytes signed_header = packet_header(h, payload);
    return assemble_packet(signed_header, crypto::sign(sk, signed_header));
}

// parse_packet, then the Ed25519 check ("bad signature").
inline Result<Packet> decode_packet(ByteView data) {
    auto p = parse_packet(data);
    if (!p) return p;
    // Checked last: it is the expensive step, and everything above is cheap.
    if (!crypto::verify(p->header.from_key, p->signed_header, p->sig)) return err("bad signature");
    return p;
}

// Signs body with sk.
inline SignedBlob sign_blob(Bytes body, const SecretKey& sk) {
    const Signature sig = crypto::sign(sk, body);
    return SignedBlob{std::move(body), sig};
}

inline bool verify_blob(const SignedBlob& blob, const PublicKey& pk) {
    return crypto::verify(pk, blob.body, blob.sig);
}

}  // namespace dc::wire
