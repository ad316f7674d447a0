// Fuzz target: wire::parse_packet, decode_packet and the payload decoders behind them.
//
// The first byte chooses a mode (see PacketMode). Raw packets (mode 0) go through
// parse_packet, which does not verify, and decode_packet, which does. Random bytes
// almost never carry a valid Ed25519 signature, so the harness also signs what the
// fuzzer writes: a signed header (mode 1), or a header and payload it encodes itself
// (mode 2). Whatever decodes is checked by fuzz_common.hpp's round trips.

#include "fuzz_common.hpp"

#include <cstddef>
#include <cstdint>

using namespace dc;

namespace {

// parse_packet checks everything but the signature; decode_packet is parse_packet
// plus the signature check.
void raw(ByteView in) {
    fuzz::check_channel_data(in);
    auto parsed = wire::parse_packet(in);
    auto decoded = wire::decode_packet(in);
    const bool verifies =
        parsed && crypto::verify(parsed->header.from_key, parsed->signed_header, parsed->sig);
    fuzz::expect(decoded.ok() == verifies, "packet", "decode_packet is not parse_packet and verify");
    if (!parsed) return;
    if (decoded) fuzz::same_packet(*parsed, *decoded, true);
    fuzz::check_packet(*parsed, fuzz::kAlice);
}

void signed_header(ByteView in) {
    const Bytes packet = fuzz::wrap_header(in, fuzz::kAlice);
    auto parsed = wire::parse_packet(packet);
    auto p = wire::decode_packet(packet);
    fuzz::expect(p.ok() == (parsed && parsed->header.from_key == fuzz::kAlice.pk), "packet",
                 "a header signed by alice does not decode exactly when it names alice's key");
    if (!p) return;
    fuzz::same_packet(*parsed, *p, true);
    fuzz::check_packet(*p, fuzz::kAlice);
}

// encode_packet of valid values must decode to the same values; anything else must not decode.
void structured(ByteView in) {
    fuzz::Reader r(in);
    const auto spec = fuzz::PacketSpec::read(r);
    const fuzz::Who& signer = *fuzz::kPeople[spec.keys & 3];
    const fuzz::Who& named = *fuzz::kPeople[(spec.keys >> 2) & 3];
    wire::Header h;
    h.type = static_cast<wire::MsgType>(spec.type);
    h.from_user = spec.user;
    h.from_session = spec.session;
    h.from_port = spec.port;
    h.from_key = named.pk;
    const Bytes packet = wire::encode_packet(h, spec.payload, signer.sk());
    const bool well_formed = fuzz::known_type(spec.type) && valid_user_name(spec.user);
    auto parsed = wire::parse_packet(packet);
    if (well_formed && !parsed) fuzz::die("packet", "a valid encoded packet does not parse: " + parsed.error());
    if (!well_formed && parsed) fuzz::die("packet", "an invalid header parsed");
    auto p = wire::decode_packet(packet);
    const bool valid = well_formed && &signer == &named;
    if (valid && !p) fuzz::die("packet", "a valid encoded packet does not decode: " + p.error());
    if (!valid && p) fuzz::die("packet", "a packet signed by another key decoded");
    if (!p) return;
    fuzz::same_packet(*p, wire::Packet{h, spec.payload, {}, {}}, false);
    fuzz::check_packet(*p, signer);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool ready = fuzz::init();
    (void)ready;
    if (size == 0) return 0;
    const ByteView in(data + 1, size - 1);
    switch (static_cast<fuzz::PacketMode>(data[0] % 3)) {
    case fuzz::PacketMode::raw: raw(in); break;
    case fuzz::PacketMode::signed_header: signed_header(in); break;
    case fuzz::PacketMode::structured: structured(in); break;
    }
    return 0;
}
