// Micro-benchmark of a session channel's data path against the per-message crypto it
// replaces, in the same run: a 100-byte chat payload sealed and opened through
// core::Channels (ChaCha20-Poly1305 with the channel's counter and replay window),
// against an Ed25519 sign+verify of the same bytes and a crypto_box_seal+open of them.
// Prints operations per second (median of rounds) and the ratios.
//
//   channel_bench [rounds]     (default 7 rounds of about 0.3 s per measure)

#include "core/channel.hpp"

#include "darkchat/crypto.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

using namespace dc;

namespace {

volatile std::size_t g_sink = 0;  // keeps the work from being optimised away

using Clock = std::chrono::steady_clock;

// Operations per second of op, run in batches for about `seconds`.
double rate(const std::function<void()>& op, double seconds) {
    std::size_t n = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    while (elapsed < seconds) {
        for (int i = 0; i < 256; ++i) op();
        n += 256;
        elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    return static_cast<double>(n) / elapsed;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Side {
    Identity id;
    KxSecretKey kx_sk{};
    KxPublicKey kx_pk{};
    core::Channels ch;
    Side(std::uint8_t n, core::ChannelConfig cfg)
        : id(make(n)), ch(core::real_crypto(), id.pk, id.session, cfg) {
        crypto::random_bytes(kx_sk);
        kx_pk = crypto::kx_public(kx_sk);
        ch.set_kx(0, kx_pk, kx_sk);
    }
    static Identity make(std::uint8_t n) {
        auto kp = crypto::generate_identity();
        Identity id{"user", kp.pk, kp.sk, {}, std::nullopt};
        id.session[7] = n;
        return id;
    }
};

// Hands each side's handshake output to the other (the envelope's signature is not
// part of what is measured).
void pump(Side& a, Side& b) {
    for (int round = 0; round < 8; ++round) {
        bool any = false;
        for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
            while (auto o = from->ch.poll_out()) {
                any = true;
                wire::Header h;
                h.from_session = from->id.session;
                h.from_key = from->id.pk;
                if (o->type == wire::MsgType::channel_hello) to->ch.handle_hello(0, h, *wire::decode_channel_hello(o->bytes));
                else if (o->type == wire::MsgType::channel_welcome)
                    to->ch.handle_welcome(0, h, *wire::decode_channel_welcome(o->bytes));
                else (void)to->ch.open(0, o->bytes);
            }
        }
        if (!any) return;
    }
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
    if (!crypto::init()) return 1;
    core::ChannelConfig cfg;
    cfg.rekey_packets = std::uint64_t{1} << 40;  // no rekey inside the measure
    cfg.rekey_bytes = std::uint64_t{1} << 50;
    Side a(1, cfg), b(2, cfg);
    a.ch.connect(0, b.id.session, b.id.pk, b.kx_pk);
    pump(a, b);
    if (!a.ch.ready(b.id.session) || !b.ch.ready(a.id.session)) {
        std::fprintf(stderr, "channel_bench: no channel\n");
        return 1;
    }
    const Bytes payload(100, 0x5a);
    const auto box_keys = [] {
        crypto::KxKeyPair k;
        crypto::random_bytes(k.sk);
        k.pk = crypto::kx_public(k.sk);
        return k;
    }();

    const auto channel = [&] {
        auto d = a.ch.seal(1, b.id.session, wire::MsgType::chat, payload);
        auto o = b.ch.open(1, *d);
        g_sink = g_sink + o->payload.size();
    };
    const auto signature = [&] {
        const Signature sig = crypto::sign(a.id.sk, payload);
        g_sink = g_sink + crypto::verify(a.id.pk, payload, sig);
    };
    const auto box = [&] {
        const Bytes sealed = crypto::seal(payload, box_keys.pk);
        g_sink = g_sink + crypto::open_sealed(sealed, box_keys)->size();
    };

    std::vector<double> ch, sg, bx;
    for (int r = 0; r < rounds; ++r) {
        ch.push_back(rate(channel, 0.3));
        sg.push_back(rate(signature, 0.3));
        bx.push_back(rate(box, 0.3));
    }
    const double c = median(ch), s = median(sg), x = median(bx);
    // Today a chat message between two sessions costs two signatures made and checked
    // (the packet's and the message's) and one sealed box; its ack one more signature.
    const double today = 1.0 / (2.0 / s + 1.0 / x);
    std::printf("100-byte chat payload, median of %d rounds, one core\n", rounds);
    std::printf("  channel seal+open (ChaCha20-Poly1305)   %12.0f /s\n", c);
    std::printf("  Ed25519 sign+verify                     %12.0f /s   channel is %.1fx\n", s, c / s);
    std::printf("  crypto_box_seal+open                    %12.0f /s   channel is %.1fx\n", x, c / x);
    std::printf("  today's message (2 sign+verify, 1 box)  %12.0f /s   channel is %.1fx\n", today, c / today);
    return g_sink == 0 ? 1 : 0;
}
