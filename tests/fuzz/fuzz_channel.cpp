// Fuzz target: the session channels (core/channel.hpp), handshake and data path.
//
// "self" holds a channel to "alice", made by a real handshake at the start, and takes
// whatever the input says: raw datagrams, packets alice sealed (some with one bit
// flipped), replays of delivered packets, hellos and welcomes from anyone with fields
// from the input, the passing of time, key rotations on either side. Handshake messages
// reach self as the envelope would hand them over (already checked), so the fuzzer gets
// past signatures; what self wants sent to alice is delivered to her, the rest dropped.
//
// Checks: no crash; the table stays within its bounds; a packet alice sealed opens
// exactly once and with the payload she sealed, unless a bit of it was flipped, when it
// never opens; a replay never opens; alice and self always end a turn able to talk.
// The crypto is the simulator's FastCrypto (deterministic, so inputs replay).
//
// Input: a sequence of operations, each an opcode byte and its arguments (fuzz::Reader
// gives zeros once the input is used up, and the loop is bounded).

#include "fuzz_common.hpp"

#include "core/channel.hpp"
#include "sim/crypto.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>

using namespace dc;
using core::Channels;
using wire::MsgType;

namespace {

enum class Op : std::uint8_t {
    raw = 0,       // [len u8][bytes]: a datagram as it comes
    sealed = 1,    // [len u8][payload][flip u16]: alice seals; flip bit 15 set flips bit (flip & 0x7fff)
    hello = 2,     // [who u8][session 8][flags u8][ephemeral 32][index u32][time u16]
    welcome = 3,   // [who u8][session 8][flags u8][ephemeral 32][index u32][echo u32]
    replay = 4,    // [which u8]: a packet self opened, again
    time = 5,      // [ms u16]
    rotate = 6,    // [who u8]: alice's or self's session key is replaced
    payload = 7,   // [len u8][bytes]: a hello payload as it comes, from bob
};

constexpr std::size_t kMaxOps = 64;

core::ChannelConfig config() {
    core::ChannelConfig c;
    c.rekey_packets = 8;
    c.rekey_bytes = 600;
    c.grace = 500;
    c.retry = 100;
    c.timeout = 1000;
    c.max_channels = 4;
    c.max_half_open = 2;
    return c;
}

struct Side {
    const fuzz::Who& who;
    Channels ch;
    KxSecretKey kx_sk{};
    KxPublicKey kx_pk{};
    Side(core::Crypto& cr, const fuzz::Who& w) : who(w), ch(cr, w.pk, w.session, config()) {}
    void rotate(core::Crypto& cr, TimeMs now) {
        cr.random(kx_sk);
        kx_pk = cr.kx_public(kx_sk);
        ch.set_kx(now, kx_pk, kx_sk);
    }
};

wire::Header header(const fuzz::Who& who, const SessionId& session, MsgType t) {
    wire::Header h;
    h.type = t;
    h.from_user = who.name;
    h.from_session = session;
    h.from_key = who.pk;
    return h;
}

struct Harness {
    sim::FastCrypto cr{0x43484e4c};
    Side self{cr, fuzz::kSelf};
    Side alice{cr, fuzz::kAlice};
    TimeMs now = 1000;
    std::deque<Bytes> opened;  // packets self opened, for replays

    Harness() {
        self.rotate(cr, now);
        alice.rotate(cr, now);
        alice.ch.connect(now, self.who.session, self.who.pk, self.kx_pk);
        pump();
        fuzz::expect(alice.ch.ready(self.who.session) && self.ch.ready(alice.who.session), "channel",
                     "the first handshake did not make a channel");
    }

    // Hands a handshake message or packet to `to`, as the node would after the envelope.
    void deliver(Side& from, Side& to, const core::ChannelOut& o) {
        const wire::Header h = header(from.who, from.who.session, o.type);
        if (o.type == MsgType::channel_data) {
            if (to.ch.open(now, o.bytes)) fuzz::die("channel", "a confirmation carried a message");
        } else if (o.type == MsgType::channel_hello) {
            auto m = wire::decode_channel_hello(o.bytes);
            if (!m) fuzz::die("channel", "a hello self made does not decode: " + m.error());
            to.ch.handle_hello(now, h, *m);
        } else {
            auto m = wire::decode_channel_welcome(o.bytes);
            if (!m) fuzz::die("channel", "a welcome self made does not decode: " + m.error());
            to.ch.handle_welcome(now, h, *m);
        }
    }

    // Everything alice and self want sent to each other, until quiet; the rest is dropped.
    void pump() {
        for (int round = 0; round < 16; ++round) {
            bool any = false;
            while (auto o = alice.ch.poll_out()) {
                any = true;
                if (o->peer == self.who.session) deliver(alice, self, *o);
            }
            while (auto o = self.ch.poll_out()) {
                any = true;
                if (o->peer == alice.who.session) deliver(self, alice, *o);
            }
            if (!any) return;
        }
        fuzz::die("channel", "the handshake does not settle");
    }

    void check_bounds() const {
        const auto cfg = config();
        fuzz::expect(self.ch.size() <= cfg.max_channels, "channel", "more channels than allowed");
        fuzz::expect(self.ch.half_open() <= cfg.max_half_open, "channel", "more half-open than allowed");
    }

    // A fresh packet each way opens once with its payload; false when one side has
    // nothing to seal with yet.
    bool talk() {
        const Bytes payload{1, 2, 3};
        for (int dir = 0; dir < 2; ++dir) {
            Side& from = dir ? self : alice;
            Side& to = dir ? alice : self;
            auto d = from.ch.seal(now, to.who.session, MsgType::ping, payload);
            if (!d) {
                pump();  // the hello a used-up key started goes out at once, as the node sends it
                return false;
            }
            auto m = to.ch.open(now, *d);
            if (!m || m->payload != payload || m->peer != from.who.session)
                fuzz::die("channel", "a fresh packet does not open");
            pump();
        }
        return true;
    }

    // alice and self can talk, at the latest once a handshake timeout has passed: a
    // handshake given up, a used-up key or a hello remembered as ahead of the clock
    // heals by then (the node connects again, as this does).
    void check_talk() {
        const auto cfg = config();
        for (int attempt = 0; attempt < 4; ++attempt) {
            if (!alice.ch.ready(self.who.session) || !self.ch.ready(alice.who.session)) {
                alice.ch.connect(now, self.who.session, self.who.pk, self.kx_pk);
                pump();
            }
            if (talk()) return;
            now += cfg.timeout + cfg.retry;
            alice.ch.handle_timeout(now);
            self.ch.handle_timeout(now);
            pump();
        }
        fuzz::die("channel", "alice and self cannot talk");
    }

    void run(fuzz::Reader& r) {
        for (std::size_t n = 0; n < kMaxOps && !r.empty(); ++n) {
            step(r);
            pump();
            check_bounds();
        }
        check_talk();
    }

    static std::uint32_t u32(fuzz::Reader& r) {
        const std::uint32_t hi = r.u16();
        return hi << 16 | r.u16();
    }

    void step(fuzz::Reader& r) {
        const auto op = static_cast<Op>(r.u8() % 8);
        switch (op) {
        case Op::raw: {
            const ByteView d = r.bytes(r.u8());
            fuzz::check_channel_data(d);
            (void)self.ch.open(now, d);
            break;
        }
        case Op::sealed: {
            const ByteView p = r.bytes(r.u8());
            const std::uint16_t flip = r.u16();
            auto d = alice.ch.seal(now, self.who.session, MsgType::chat, p);
            if (!d) break;  // used up until the rekey completes
            const bool flipped = flip & 0x8000;
            if (flipped) {
                const std::size_t bit = (flip & 0x7fff) % (d->size() * 8);
                (*d)[bit / 8] ^= static_cast<std::uint8_t>(1 << (bit % 8));
            }
            auto m = self.ch.open(now, *d);
            if (flipped && m) fuzz::die("channel", "a packet with a flipped bit opened");
            if (!flipped) {
                if (!m) fuzz::die("channel", "a packet alice sealed does not open");
                fuzz::expect(m->type == MsgType::chat && m->peer == alice.who.session &&
                                 m->payload == Bytes(p.begin(), p.end()),
                             "channel", "opened something other than was sealed");
                opened.push_back(*d);
                if (opened.size() > 16) opened.pop_front();
            }
            break;
        }
        case Op::hello:
        case Op::welcome: {
            const bool hello = op == Op::hello;
            const fuzz::Who& who = *fuzz::kPeople[r.u8() & 3];
            SessionId session{};
            const ByteView s = r.bytes(session.size());
            std::copy(s.begin(), s.end(), session.begin());
            const std::uint8_t flags = r.u8();
            if (flags & 1) session = who.session;
            KxPublicKey e{};
            const ByteView eb = r.bytes(e.size());
            std::copy(eb.begin(), eb.end(), e.begin());
            if (flags & 2) e = cr.kx_public(e);  // a key someone could hold
            const std::uint32_t index = u32(r);
            const KxPublicKey own_kx = flags & 4 ? alice.kx_pk : e;
            const KxPublicKey to_kx = flags & 8 ? self.kx_pk : e;
            const wire::Header h = header(who, session, hello ? MsgType::channel_hello : MsgType::channel_welcome);
            if (hello) {
                self.ch.handle_hello(now, h, wire::ChannelHello{own_kx, to_kx, e, index, now + r.u16()});
            } else {
                self.ch.handle_welcome(now, h, wire::ChannelWelcome{own_kx, to_kx, e, index, u32(r), (flags & 16) != 0});
            }
            break;
        }
        case Op::replay: {
            if (opened.empty()) break;
            const Bytes& d = opened[r.u8() % opened.size()];
            if (self.ch.open(now, d)) fuzz::die("channel", "a replayed packet opened");
            break;
        }
        case Op::time:
            now += r.u16();
            alice.ch.handle_timeout(now);
            self.ch.handle_timeout(now);
            break;
        case Op::rotate:
            (r.u8() & 1 ? alice : self).rotate(cr, now);
            break;
        case Op::payload: {
            const ByteView d = r.bytes(r.u8());
            if (auto m = wire::decode_channel_hello(d))
                self.ch.handle_hello(now, header(fuzz::kBob, fuzz::kBob.session, MsgType::channel_hello), *m);
            break;
        }
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool ready = fuzz::init();
    (void)ready;
    fuzz::Reader r(ByteView(data, size));
    Harness h;
    h.run(r);
    return 0;
}
