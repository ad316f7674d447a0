// The node: its session channels. Packets to a session we have a channel with go
// as one AEAD packet under the channel's keys; everything else, and the channel's
// own handshake, as signed packets. What arrives on a channel is handled as if a
// signed packet of its inner type had come from that session.
#include "core/node_state.hpp"

namespace dc::core {

void Node::State::send(const Addr& to, wire::MsgType type, const Bytes& payload) {
    if (send_on_channel(to, type, payload)) return;
    send_signed(to, type, payload);
}

void Node::State::send_signed(const Addr& to, wire::MsgType type, const Bytes& payload) {
    auto sealed = env.seal(to, type, payload);
    if (!sealed) return;
    Transmit& t = *sealed;
    // No amplification: what we answer a sender we cannot authenticate is
    // never larger than its request over UDP (TCP needs a handshake first).
    if (request && !request->authenticated && to.ip == request->from.ip && t.data.size() > request->size)
        t.stream = true;
    tx_out.push_back(Out{std::move(t), depends_on});
    ++stats.sent;
}

bool Node::State::send_on_channel(const Addr& to, wire::MsgType type, const Bytes& payload) {
    auto at = channel_at.find(to);
    if (at == channel_at.end()) return false;
    // Only to the session we believe is at that address now: a session that
    // restarted there is another session, with no keys of this channel.
    Session* s = channel_session(at->second);
    if (!s || !s->online() || s->rec.addr != to || !channels.fresh(at->second)) return false;
    auto pkt = channels.seal(now, at->second, type, payload);
    if (!pkt) return false;
    tx_out.push_back(Out{Transmit{to, std::move(*pkt), false}, depends_on});
    ++stats.sent;
    ++stats.sent_on_channel;
    return true;
}

Session* Node::State::channel_session(const SessionId& sid, const std::string** user) {
    auto cu = channel_users.find(sid);
    if (cu == channel_users.end()) return nullptr;
    ChannelPeer& peer = cu->second;
    if (!peer.entry) {
        auto u = users.find(peer.user);
        if (u == users.end()) return nullptr;
        peer.entry = &u->second;
    }
    auto st = peer.entry->sessions.find(sid);
    if (st == peer.entry->sessions.end()) return nullptr;
    if (user) *user = &cu->second.user;
    return &st->second;
}

void Node::State::want_channel(const std::string& user, const Session& s) {
    const SessionId& sid = s.rec.session;
    if (!cfg.channels || !s.online() || s.decl.kx == KxPublicKey{} || presence.is_self(user, sid)) return;
    // Keys made from a session key the peer has since replaced are no use: a
    // handshake that timed out after its new key is started again.
    if (channels.fresh(sid) || channels.connecting(sid)) return;
    auto u = users.find(user);
    if (u == users.end() || !u->second.key_known) return;
    channels.connect(now, sid, u->second.rec.key, s.decl.kx);
    remember_channel(user, sid);
}

void Node::State::remember_channel(const std::string& user, const SessionId& sid) {
    ChannelPeer& peer = channel_users[sid];
    if (peer.user != user) peer = ChannelPeer{user, nullptr, peer.at};
    if (Session* s = channel_session(sid)) channel_address(sid, s->rec.addr);
}

void Node::State::channel_address(const SessionId& sid, const Addr& addr) {
    // Every session in channel_at has a channel (forget_channel takes both), and
    // its ChannelPeer::at names its one address there: no walk of channel_at.
    auto cu = channel_users.find(sid);
    if (cu == channel_users.end()) {
        auto it = channel_at.find(addr);
        if (it != channel_at.end() && it->second != sid) channel_at.erase(it);  // someone else is there now
        return;
    }
    std::optional<Addr>& at = cu->second.at;
    if (at == addr) return;
    if (at) channel_at.erase(*at);
    auto [it, fresh] = channel_at.try_emplace(addr, sid);
    if (!fresh) {  // another session was reached there: no longer
        if (auto other = channel_users.find(it->second); other != channel_users.end()) other->second.at.reset();
        it->second = sid;
    }
    at = addr;
}

void Node::State::forget_channel(const SessionId& sid) {
    auto cu = channel_users.find(sid);
    if (cu == channel_users.end()) return;
    if (cu->second.at) channel_at.erase(*cu->second.at);
    channel_users.erase(cu);
    channels.close(sid);
}

void Node::State::drain_channels() {
    while (auto o = channels.poll_out()) {
        Session* s = channel_session(o->peer);
        if (!s) continue;  // forgotten meanwhile
        if (o->type == wire::MsgType::channel_data) {
            tx_out.push_back(Out{Transmit{s->rec.addr, std::move(o->bytes), false}, std::nullopt});
            ++stats.sent;
            ++stats.sent_on_channel;
        } else {
            send_signed(s->rec.addr, o->type, o->bytes);
        }
    }
}

void Node::State::new_kx() {
    kx.rotate(now, cfg.kx_rotation);
    channels.set_kx(now, kx.current().pk, kx.current().sk);
}

void Node::State::on_channel_packet(const Addr& from, ByteView data, bool stream) {
    ++stats.received;
    // Its cost is a table look-up and one AEAD check, no signature: nothing to
    // budget before it. What fails is counted in the channels' own stats.
    const std::uint64_t dropped = channels.stats().dropped();
    auto o = channels.open(now, data);
    if (!o) {
        // Nothing for us: dropped, or the empty packet that confirms new keys.
        if (channels.stats().dropped() != dropped) ++stats.channel_dropped;
        return;
    }
    const std::string* user = nullptr;
    Session* s = channel_session(o->peer, &user);
    if (!s) {
        ++stats.unsolicited;
        return;
    }
    if (!key_ok(*user, o->peer_key)) {  // trusted another key since: this channel is done
        forget_channel(o->peer);
        return;
    }
    ++stats.on_channel;
    const Addr& known = s->rec.addr;
    bool at_known = known.ip == from.ip && (stream || known.port == from.port);
    wire::Header h{o->type, *user, o->peer, stream ? known.port : from.port, o->peer_key};
    request = Request{from, data.size(), at_known, true};
    struct Done {
        std::optional<Request>& r;
        ~Done() { r.reset(); }
    } done{request};
    dispatch(h, reply_addr(from, h), o->payload);
}

}  // namespace dc::core
