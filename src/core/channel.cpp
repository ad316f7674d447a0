#include "core/channel.hpp"

#include "darkchat/crypto.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace dc::core {

// The defaults of the injected Crypto: libsodium.
std::optional<SymmetricKey> Crypto::agree(const KxSecretKey& sk, const KxPublicKey& pk) { return crypto::x25519(sk, pk); }
void Crypto::aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter, const SymmetricKey& key) {
    crypto::aead_seal(out, msg, ad, counter, key);
}
bool Crypto::aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter, const SymmetricKey& key) {
    return crypto::aead_open(out, sealed, ad, counter, key);
}
void Crypto::hash(std::span<std::uint8_t> out, ByteView key, ByteView in) { crypto::keyed_hash(out, key, in); }

ChannelConfig ChannelConfig::from(const Config& c) {
    return ChannelConfig{c.channel_rekey_packets, c.channel_rekey_bytes, c.channel_grace, c.channel_handshake_retry,
                         c.channel_handshake_timeout, c.max_channels, c.max_half_open};
}

// ---------------------------------------------------------------------------
// Replay window

bool ReplayWindow::fresh(std::uint64_t counter) const {
    if (counter == std::numeric_limits<std::uint64_t>::max()) return false;
    const std::uint64_t c = counter + 1;
    if (top_ > kSize && c < top_ - kSize) return false;
    if (c > top_) return true;
    return !(bits_[(c >> 6) % bits_.size()] >> (c & 63) & 1);
}

void ReplayWindow::mark(std::uint64_t counter) {
    const std::uint64_t c = counter + 1;
    const std::uint64_t word = c >> 6;
    if (c > top_) {
        // The words between the old newest and this one are reused for newer counters.
        const std::uint64_t current = top_ >> 6;
        const std::uint64_t clear = std::min<std::uint64_t>(word - current, bits_.size());
        for (std::uint64_t i = 1; i <= clear; ++i) bits_[(current + i) % bits_.size()] = 0;
        top_ = c;
    }
    bits_[word % bits_.size()] |= std::uint64_t{1} << (c & 63);
}

void ChannelKeys::wipe() {
    crypto::wipe(send);
    crypto::wipe(recv);
}

// ---------------------------------------------------------------------------
// The table

namespace {

// Inner type of the empty packet an initiator sends to confirm new keys: no MsgType.
constexpr std::uint8_t kConfirm = 0;

bool inner_type_ok(std::uint8_t t) {
    return t >= static_cast<std::uint8_t>(wire::MsgType::declare_online) &&
           t <= static_cast<std::uint8_t>(wire::MsgType::hand_over);
}

constexpr std::string_view kLabel = "darkchat channel 1";

void put_side(Bytes& out, const PublicKey& key, const SessionId& session, const KxPublicKey& kx,
              const KxPublicKey& ephemeral, std::uint32_t index) {
    out.insert(out.end(), key.begin(), key.end());
    out.insert(out.end(), session.begin(), session.end());
    out.insert(out.end(), kx.begin(), kx.end());
    out.insert(out.end(), ephemeral.begin(), ephemeral.end());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(index >> (24 - 8 * i)));
}

}  // namespace

Channels::Channels(Crypto& crypto, const PublicKey& our_key, const SessionId& our_session, ChannelConfig cfg)
    : crypto_(crypto), our_key_(our_key), our_session_(our_session), cfg_(cfg) {}

Channels::~Channels() {
    for (auto& [peer, c] : channels_)
        if (c.pending) crypto::wipe(c.pending->ephemeral_sk);
    crypto::wipe(kx_sk_);
}

Channels::Channel* Channels::find(const SessionId& peer) {
    auto it = channels_.find(peer);
    return it == channels_.end() ? nullptr : &it->second;
}

const Channels::Channel* Channels::find(const SessionId& peer) const {
    auto it = channels_.find(peer);
    return it == channels_.end() ? nullptr : &it->second;
}

std::size_t Channels::half_open() const {
    return static_cast<std::size_t>(
        std::count_if(channels_.begin(), channels_.end(), [](const auto& e) { return e.second.half_open(); }));
}

bool Channels::ready(const SessionId& peer) const {
    const Channel* c = find(peer);
    return c && (c->current || c->next);
}

bool Channels::fresh(const SessionId& peer) const {
    const Channel* c = find(peer);
    if (!c) return false;
    const ChannelKeys* k = c->current ? c->current.get() : c->next.get();
    return k && k->peer_kx == c->peer_kx && !c->suspect;
}

void Channels::suspect(TimeMs now, const SessionId& peer) {
    Channel* c = find(peer);
    if (!c || c->suspect || !(c->current || c->next)) return;
    c->suspect = true;
    start(now, *c, c->peer_kx);
}

bool Channels::connecting(const SessionId& peer) const {
    const Channel* c = find(peer);
    return c && c->pending;
}

std::uint32_t Channels::new_index(const SessionId& peer) {
    std::uint32_t i = 0;
    // Random, so that an index says nothing about how many channels there are; a
    // collision is rare, and a few draws end it.
    for (int tries = 0; tries < 64 && (i == 0 || by_index_.count(i)); ++tries)
        crypto_.random(std::span(reinterpret_cast<std::uint8_t*>(&i), sizeof i));
    while (i == 0 || by_index_.count(i)) ++i;
    by_index_[i] = peer;
    return i;
}

void Channels::release(std::unique_ptr<ChannelKeys>& k) {
    if (!k) return;
    by_index_.erase(k->local);
    k.reset();  // wipes
    touch();
}

void Channels::drop_pending(Channel& c) {
    if (!c.pending) return;
    by_index_.erase(c.pending->index);
    crypto::wipe(c.pending->ephemeral_sk);
    c.pending.reset();
    touch();
}

void Channels::forget(std::map<SessionId, Channel, SessionIdLess>::iterator it) {
    Channel& c = it->second;
    drop_pending(c);
    release(c.current);
    release(c.next);
    release(c.previous);
    channels_.erase(it);
}

void Channels::close(const SessionId& peer) {
    auto it = channels_.find(peer);
    if (it != channels_.end()) forget(it);
}

// Room for one more channel. Half-open channels go first, the peer's before ours (a
// flood of hellos pushes out other hellos, not our own handshakes nor working
// channels), oldest first; then the channel idle longest.
void Channels::evict_for() {
    auto pick = [&](bool half_open_only) {
        auto best = channels_.end();
        auto rank = [](const Channel& c) { return std::pair{c.pending.has_value(), c.made}; };
        for (auto it = channels_.begin(); it != channels_.end(); ++it) {
            if (half_open_only && !it->second.half_open()) continue;
            if (best == channels_.end()) best = it;
            else if (half_open_only ? rank(it->second) < rank(best->second) : it->second.active < best->second.active)
                best = it;
        }
        return best;
    };
    const bool full = channels_.size() >= cfg_.max_channels;
    if (half_open() >= cfg_.max_half_open || full) {
        auto victim = pick(true);
        if (victim == channels_.end() && full) victim = pick(false);
        if (victim != channels_.end()) {
            ++stats_.evicted;
            forget(victim);
        }
    }
}

Channels::Channel& Channels::make(TimeMs now, const SessionId& peer, const PublicKey& peer_key) {
    evict_for();
    Channel& c = channels_[peer];
    c.peer = peer;
    c.peer_key = peer_key;
    c.made = c.active = now;
    return c;
}

// ---------------------------------------------------------------------------
// Handshake

void Channels::set_kx(TimeMs now, const KxPublicKey& pk, const KxSecretKey& sk) {
    if (have_kx_ && pk == kx_pk_) return;
    crypto::wipe(kx_sk_);
    kx_pk_ = pk;
    kx_sk_ = sk;
    have_kx_ = true;
    // Keys made from the old session key go once new ones are made; handshakes under
    // way named it, so they start again.
    for (auto& [peer, c] : channels_) {
        if (c.pending) {
            drop_pending(c);
            start(now, c, c.peer_kx);
        } else if (c.current || c.next) {
            start(now, c, c.peer_kx);
        }
    }
}

void Channels::connect(TimeMs now, const SessionId& peer, const PublicKey& peer_key, const KxPublicKey& peer_kx) {
    if (!have_kx_ || peer == our_session_) return;
    Channel* c = find(peer);
    if (c && c->peer_key != peer_key) {
        close(peer);  // the caller knows the peer under another identity now
        c = nullptr;
    }
    if (!c) c = &make(now, peer, peer_key);
    c->peer_kx = peer_kx;
    if (c->pending && c->pending->peer_kx == peer_kx) return;
    drop_pending(*c);
    start(now, *c, peer_kx);
}

void Channels::peer_kx(TimeMs now, const SessionId& peer, const KxPublicKey& kx) {
    Channel* c = find(peer);
    if (!c || c->peer_kx == kx) return;
    c->peer_kx = kx;
    if (c->pending) {
        drop_pending(*c);
        start(now, *c, kx);
    } else if (c->current || c->next) {
        start(now, *c, kx);
    }
}

void Channels::start(TimeMs now, Channel& c, const KxPublicKey& peer_kx) {
    if (!have_kx_ || c.pending) return;
    if (c.current) ++stats_.rekeys;
    Pending p;
    p.index = new_index(c.peer);
    crypto_.random(p.ephemeral_sk);
    p.ephemeral_pk = crypto_.kx_public(p.ephemeral_sk);
    p.peer_kx = peer_kx;
    p.first = now;
    c.pending = p;
    crypto::wipe(p.ephemeral_sk);
    send_hello(now, c);
}

void Channels::send_hello(TimeMs now, Channel& c) {
    Pending& p = *c.pending;
    c.hello_time = std::max(now, c.hello_time + 1);
    wire::ChannelHello m{kx_pk_, p.peer_kx, p.ephemeral_pk, p.index, c.hello_time};
    out_.push_back(ChannelOut{c.peer, wire::MsgType::channel_hello, wire::encode(m)});
    p.next_retry = now + cfg_.retry;
    ++stats_.hellos;
    touch();
}

std::unique_ptr<ChannelKeys> Channels::derive(TimeMs now, bool initiator, const KxSecretKey& ephemeral_sk,
                                              const Side& i, const Side& r) {
    // Both sides compute DH(e_i, e_r), DH(kx_i, kx_r), DH(e_i, kx_r), DH(kx_i, e_r), in
    // that order, each from its own secrets and the other's public keys.
    const Side& peer = initiator ? r : i;
    std::optional<SymmetricKey> dh[4] = {
        crypto_.agree(ephemeral_sk, *peer.ephemeral),
        crypto_.agree(kx_sk_, *peer.kx),
        initiator ? crypto_.agree(ephemeral_sk, *r.kx) : crypto_.agree(kx_sk_, *i.ephemeral),
        initiator ? crypto_.agree(kx_sk_, *r.ephemeral) : crypto_.agree(ephemeral_sk, *i.kx),
    };
    std::array<std::uint8_t, 4 * 32> secret{};
    bool ok = true;
    for (std::size_t n = 0; n < 4; ++n) {
        if (!dh[n]) {
            ok = false;
            continue;
        }
        std::memcpy(secret.data() + 32 * n, dh[n]->data(), 32);
        crypto::wipe(*dh[n]);
    }
    if (!ok) {
        crypto::wipe(secret);
        return nullptr;
    }
    Bytes transcript(kLabel.begin(), kLabel.end());
    put_side(transcript, *i.key, *i.session, *i.kx, *i.ephemeral, i.index);
    put_side(transcript, *r.key, *r.session, *r.kx, *r.ephemeral, r.index);
    std::array<std::uint8_t, 32> th{};
    crypto_.hash(th, {}, transcript);
    std::array<std::uint8_t, 64> okm{};
    crypto_.hash(okm, th, secret);
    crypto::wipe(secret);

    auto k = std::make_unique<ChannelKeys>();
    const std::uint8_t* i2r = okm.data();
    const std::uint8_t* r2i = okm.data() + 32;
    std::memcpy(k->send.data(), initiator ? i2r : r2i, 32);
    std::memcpy(k->recv.data(), initiator ? r2i : i2r, 32);
    crypto::wipe(okm);
    k->local = initiator ? i.index : r.index;
    k->remote = initiator ? r.index : i.index;
    k->our_kx = kx_pk_;
    k->peer_kx = *peer.kx;
    k->made = now;
    return k;
}

// The time a hello is remembered by: its own, but never more than the handshake
// timeout ahead of ours, so that a peer whose clock was ahead and stepped back (a
// restart, a correction) is heard again within that time rather than locked out.
TimeMs Channels::hello_time(TimeMs now, TimeMs sent) const { return std::min(sent, now + cfg_.timeout); }

void Channels::handle_hello(TimeMs now, const wire::Header& h, const wire::ChannelHello& m) {
    if (!have_kx_ || h.from_session == our_session_) return;
    if (m.index == 0) {
        ++stats_.malformed;
        return;
    }
    if (m.peer_kx != kx_pk_) {
        // Made for a session key of ours that is gone (or never was): say which is current.
        ++stats_.stale;
        wire::ChannelWelcome w{kx_pk_, m.kx, {}, 0, m.index, true};
        out_.push_back(ChannelOut{h.from_session, wire::MsgType::channel_welcome, wire::encode(w)});
        ++stats_.welcomes;
        return;
    }
    Channel* c = find(h.from_session);
    if (c && c->peer_key != h.from_key) {
        ++stats_.wrong_key;
        return;
    }
    if (c) {
        // The same hello again (our welcome was lost): the same welcome, not new keys.
        for (ChannelKeys* k : {c->next.get(), c->current.get()}) {
            if (k && !k->welcome.empty() && k->hello_index == m.index && k->hello_ephemeral == m.ephemeral &&
                k->peer_kx == m.kx && m.time > c->last_hello) {
                c->last_hello = hello_time(now, m.time);
                out_.push_back(ChannelOut{c->peer, wire::MsgType::channel_welcome, k->welcome});
                ++stats_.welcomes;
                return;
            }
        }
        // Not newer than the last hello taken from that session, whatever its session
        // key: a replay (of this key's hellos or of an older key's).
        if (m.time <= c->last_hello) {
            ++stats_.replayed;
            return;
        }
        if (c->pending) {
            // Both sides said hello: the smaller session id stays the initiator.
            if (our_session_ < h.from_session) {
                ++stats_.crossed;
                return;
            }
            drop_pending(*c);
        }
    } else {
        c = &make(now, h.from_session, h.from_key);
    }
    KxSecretKey e_sk{};
    crypto_.random(e_sk);
    const KxPublicKey e_pk = crypto_.kx_public(e_sk);
    const std::uint32_t index = new_index(c->peer);
    const Side i{&h.from_key, &h.from_session, &m.kx, &m.ephemeral, m.index};
    const Side r{&our_key_, &our_session_, &kx_pk_, &e_pk, index};
    auto k = derive(now, false, e_sk, i, r);
    crypto::wipe(e_sk);
    if (!k) {
        by_index_.erase(index);
        ++stats_.malformed;
        if (!c->current && !c->next && !c->pending) close(c->peer);
        return;
    }
    c->last_hello = hello_time(now, m.time);
    c->peer_kx = m.kx;
    k->hello_index = m.index;
    k->hello_ephemeral = m.ephemeral;
    k->welcome = wire::encode(wire::ChannelWelcome{kx_pk_, m.kx, e_pk, index, m.index, false});
    out_.push_back(ChannelOut{c->peer, wire::MsgType::channel_welcome, k->welcome});
    ++stats_.welcomes;
    release(c->next);
    c->next = std::move(k);
    touch();
}

void Channels::retire_current(TimeMs now, Channel& c) {
    release(c.previous);
    if (c.current) {
        c.previous = std::move(c.current);
        c.previous_until = now + cfg_.grace;
    }
    touch();
}

void Channels::handle_welcome(TimeMs now, const wire::Header& h, const wire::ChannelWelcome& m) {
    Channel* c = find(h.from_session);
    if (!c || !c->pending || c->pending->index != m.echo) {
        ++stats_.unsolicited;
        return;
    }
    if (c->peer_key != h.from_key) {
        ++stats_.wrong_key;
        return;
    }
    Pending& p = *c->pending;
    if (m.stale) {
        // Our hello named a session key the peer no longer holds: again with its current
        // one (once per key, so two stale answers cannot loop).
        if (m.kx == p.peer_kx || m.peer_kx != kx_pk_) return;
        ++stats_.stale;
        const TimeMs first = p.first;
        c->peer_kx = m.kx;
        drop_pending(*c);
        start(now, *c, m.kx);
        if (c->pending) c->pending->first = first;
        return;
    }
    if (m.index == 0 || m.kx != p.peer_kx) {
        ++stats_.malformed;
        return;
    }
    if (m.peer_kx != kx_pk_) {
        // Our session key changed since the hello: that hello was already sent again.
        ++stats_.stale;
        return;
    }
    const Side i{&our_key_, &our_session_, &kx_pk_, &p.ephemeral_pk, p.index};
    const Side r{&h.from_key, &h.from_session, &m.kx, &m.ephemeral, m.index};
    auto k = derive(now, true, p.ephemeral_sk, i, r);
    if (!k) {
        ++stats_.malformed;
        return;
    }
    crypto::wipe(p.ephemeral_sk);
    c->pending.reset();  // its index lives on as the new keys' local index
    retire_current(now, *c);
    release(c->next);
    c->current = std::move(k);
    c->active = now;
    c->suspect = false;
    ++stats_.established;
    // The responder sends under the new keys once it has seen them used.
    if (auto confirm = seal_with(*c->current, kConfirm, {}))
        out_.push_back(ChannelOut{c->peer, wire::MsgType::channel_data, std::move(*confirm)});
    touch();
}

// ---------------------------------------------------------------------------
// Data

Bytes seal_aead_packet(Crypto& crypto, wire::MsgType outer, std::uint32_t index, std::uint64_t counter,
                       const SymmetricKey& key, std::uint8_t inner, ByteView payload) {
    Bytes out(wire::kChannelPrefix + 1 + payload.size() + wire::kChannelTag);
    wire::put_channel_prefix(out.data(), index, counter, outer);
    std::uint8_t* body = out.data() + wire::kChannelPrefix;
    body[0] = inner;
    if (!payload.empty()) std::memcpy(body + 1, payload.data(), payload.size());
    crypto.aead_seal(body, ByteView(body, 1 + payload.size()), ByteView(out.data(), wire::kChannelPrefix), counter, key);
    return out;
}

std::optional<Bytes> open_aead_packet(Crypto& crypto, ByteView datagram, const wire::ChannelData& d,
                                      const SymmetricKey& key) {
    Bytes plain(d.sealed.size() - wire::kChannelTag);
    if (!crypto.aead_open(plain.data(), d.sealed, datagram.first(wire::kChannelPrefix), d.counter, key))
        return std::nullopt;
    return plain;
}

std::optional<Bytes> Channels::seal_with(ChannelKeys& k, std::uint8_t inner, ByteView payload) {
    if (k.next_counter >= 2 * cfg_.rekey_packets || k.bytes_sent >= 2 * cfg_.rekey_bytes) {
        ++stats_.exhausted;
        return std::nullopt;
    }
    const std::uint64_t counter = k.next_counter++;
    k.bytes_sent += payload.size();
    return seal_aead_packet(crypto_, wire::MsgType::channel_data, k.remote, counter, k.send, inner, payload);
}

std::optional<Bytes> Channels::seal(TimeMs now, const SessionId& peer, wire::MsgType inner, ByteView payload) {
    Channel* c = find(peer);
    if (!c) return std::nullopt;
    // A responder sends under new keys only once confirmed, unless it has no others.
    ChannelKeys* k = c->current ? c->current.get() : c->next.get();
    if (!k) return std::nullopt;
    if (k->next_counter >= cfg_.rekey_packets || k->bytes_sent >= cfg_.rekey_bytes) start(now, *c, c->peer_kx);
    return seal_with(*k, static_cast<std::uint8_t>(inner), payload);
}

ChannelKeys* Channels::keys_for(TimeMs now, std::uint32_t index, Channel*& c) {
    auto idx = by_index_.find(index);
    c = idx == by_index_.end() ? nullptr : find(idx->second);
    if (!c) return nullptr;
    ChannelKeys* k = nullptr;
    for (ChannelKeys* cand : {c->current.get(), c->next.get(), c->previous.get()})
        if (cand && cand->local == index) k = cand;
    if (k && k == c->previous.get() && now >= c->previous_until) k = nullptr;
    return k;
}

std::optional<wire::MsgType> Channels::peek(TimeMs now, ByteView datagram) {
    auto d = wire::parse_channel_data(datagram);
    if (!d || d->type != wire::MsgType::channel_data) return std::nullopt;
    Channel* c = nullptr;
    ChannelKeys* k = keys_for(now, d->index, c);
    if (!k) return std::nullopt;
    auto plain = open_aead_packet(crypto_, datagram, *d, k->recv);
    if (!plain) return std::nullopt;
    if (plain->empty() || !inner_type_ok((*plain)[0])) return std::nullopt;
    return static_cast<wire::MsgType>((*plain)[0]);
}

std::optional<Channels::Opened> Channels::open(TimeMs now, ByteView datagram) {
    auto d = wire::parse_channel_data(datagram);
    if (!d || d->type != wire::MsgType::channel_data) {
        ++stats_.malformed;
        return std::nullopt;
    }
    Channel* c = nullptr;
    ChannelKeys* k = keys_for(now, d->index, c);
    if (!k) {
        ++stats_.unknown_index;
        return std::nullopt;
    }
    if (!k->window.fresh(d->counter)) {
        ++stats_.replayed;
        return std::nullopt;
    }
    auto opened = open_aead_packet(crypto_, datagram, *d, k->recv);
    if (!opened) {
        ++stats_.undecryptable;
        return std::nullopt;
    }
    Bytes& plain = *opened;
    k->window.mark(d->counter);
    c->active = now;
    c->suspect = false;  // the peer holds keys of this channel
    if (k == c->next.get()) {
        // The initiator uses the keys: they are confirmed, and ours to send with.
        retire_current(now, *c);
        c->current = std::move(c->next);
        ++stats_.established;
    }
    const std::uint8_t inner = plain[0];
    if (inner == kConfirm && plain.size() == 1) return std::nullopt;
    if (!inner_type_ok(inner)) {
        ++stats_.malformed;
        return std::nullopt;
    }
    plain.erase(plain.begin());
    return Opened{c->peer, c->peer_key, static_cast<wire::MsgType>(inner), std::move(plain)};
}

// ---------------------------------------------------------------------------
// Time

void Channels::handle_timeout(TimeMs now) {
    touch();
    for (auto it = channels_.begin(); it != channels_.end();) {
        Channel& c = it->second;
        if (c.previous && now >= c.previous_until) release(c.previous);
        if (c.next && !c.current && now - c.next->made >= cfg_.timeout) release(c.next);  // never confirmed
        if (c.pending) {
            if (now - c.pending->first >= cfg_.timeout) {
                ++stats_.timed_out;
                drop_pending(c);
            } else if (now >= c.pending->next_retry) {
                send_hello(now, c);
            }
        }
        if (!c.current && !c.next && !c.pending) {
            auto gone = it++;
            forget(gone);
        } else {
            ++it;
        }
    }
}

std::optional<TimeMs> Channels::poll_timeout() const {
    if (!wakeup_dirty_) return wakeup_;
    std::optional<TimeMs> w;
    auto at = [&](TimeMs t) { w = w ? std::min(*w, t) : t; };
    for (const auto& [peer, c] : channels_) {
        if (c.previous) at(c.previous_until);
        if (c.next && !c.current) at(c.next->made + cfg_.timeout);
        if (c.pending) at(std::min(c.pending->next_retry, c.pending->first + cfg_.timeout));
    }
    wakeup_ = w;
    wakeup_dirty_ = false;
    return w;
}

std::optional<ChannelOut> Channels::poll_out() {
    if (out_.empty()) return std::nullopt;
    ChannelOut o = std::move(out_.front());
    out_.pop_front();
    return o;
}

}  // namespace dc::core
