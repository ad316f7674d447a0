// The room client's measuring (measuring.hpp).

#include "measuring.hpp"

namespace dc::roles::detail {

ProbeRelay* Measuring::add(TimeMs now, const Addr& a, bool listed) {
    auto it = relays_.find(a);
    if (it == relays_.end()) {
        if (relays_.size() >= ctx_.cfg.max_relays) return nullptr;
        ProbeRelay r;
        r.addr = a;
        // A new relay is measured soon (spread over 50 ms), then every measure_interval.
        r.next_probe = now + rng_.between(0, 50);
        it = relays_.emplace(a, r).first;
    }
    it->second.listed |= listed;
    return &it->second;
}

void Measuring::add_room_relay(TimeMs now, const Addr& a, const PublicKey& key) {
    if (auto* pr = add(now, a, false); pr && !pr->key_known) {
        pr->key = key;
        pr->key_known = true;
    }
}

void Measuring::set_in_service(TimeMs now, const std::vector<wire::RelayInfo>& relays,
                               const std::function<bool(const Addr&)>& keep) {
    std::set<Addr> in_service;
    for (auto& ri : relays) {
        in_service.insert(ri.addr);
        if (auto* r = add(now, ri.addr, true)) {
            if (r->key_known && r->key != ri.key) r->rtt.reset();
            r->key = ri.key;
            r->key_known = true;
        }
    }
    for (auto it = relays_.begin(); it != relays_.end();) {
        const bool kept = in_service.count(it->first) || contains_addr(ctx_.cfg.relays, it->first) || keep(it->first);
        it = kept ? std::next(it) : relays_.erase(it);
    }
    check();
}

void Measuring::start(TimeMs now) {
    for (auto& [a, r] : relays_) r.next_probe = now + r.next_probe % 51;
    last_report_ = now - ctx_.cfg.report_interval;
}

void Measuring::handle_timeout(TimeMs now, const std::vector<Addr>& room_relays) {
    for (auto& [a, r] : relays_)
        if (r.listed && now >= r.next_probe) probe(now, r);
    // Room relays are probed too: they may not be listed by anyone.
    for (auto& a : room_relays)
        if (auto it = relays_.find(a); it != relays_.end() && !it->second.listed && now >= it->second.next_probe)
            probe(now, it->second);
}

void Measuring::probe(TimeMs now, ProbeRelay& r) {
    if (r.nonce) {
        if (++r.misses >= ctx_.cfg.probe_misses && r.rtt) {
            r.rtt.reset();
            check();
        }
    }
    r.nonce = ctx_.env.nonce();
    r.sent = now;
    r.next_probe = now + ctx_.cfg.measure_interval;
    ctx_.env.send(r.addr, wire::MsgType::probe, wire::encode(wire::Probe{r.nonce, {}}));
}

void Measuring::on_probe_reply(TimeMs now, const Incoming& in, const wire::ProbeReply& p) {
    auto it = relays_.find(in.from);
    if (it == relays_.end()) it = relays_.find(in.reply);
    if (it == relays_.end() || it->second.nonce == 0 || it->second.nonce != p.nonce) {
        ++ctx_.env.stats().unsolicited;
        return;
    }
    ProbeRelay& r = it->second;
    if (r.key_known && r.key != in.pkt.header.from_key) {
        ++ctx_.env.stats().wrong_key;
        return;
    }
    r.key = in.pkt.header.from_key;  // --relays: learned from the first answer
    r.key_known = true;
    const double sample = static_cast<double>(std::max<TimeMs>(0, now - r.sent));
    r.srtt = r.rtt ? (r.srtt + sample) / 2 : sample;  // smoothed: half the old, half the new
    r.rtt = static_cast<std::uint32_t>(r.srtt + 0.5);
    r.nonce = 0;
    r.misses = 0;
    check();
}

bool Measuring::dead(const Addr& a) const {
    auto pr = relays_.find(a);
    return pr == relays_.end() || (!pr->second.rtt && pr->second.misses >= ctx_.cfg.probe_misses);
}

DelayVector Measuring::delays() const {
    DelayVector d;
    for (auto& [a, r] : relays_)
        if (alive(r)) d[r.key] = *r.rtt;
    return d;
}

std::vector<Candidate> Measuring::alive_relays(const std::optional<Addr>& except) const {
    std::vector<Candidate> v;
    for (auto& [a, r] : relays_)
        if (alive(r) && (!except || a != *except)) v.push_back({r.key, a, {}});
    return v;
}

void Measuring::check() {
    auto d = delays();
    if (d.size() != reported_.size()) {
        changed_ = true;
        return;
    }
    for (auto& [k, v] : d) {
        auto it = reported_.find(k);
        if (it == reported_.end()) {
            changed_ = true;
            return;
        }
        const std::uint32_t diff = v > it->second ? v - it->second : it->second - v;
        if (diff >= ctx_.cfg.report_threshold_ms || diff * 10 >= it->second) changed_ = true;
    }
}

void Measuring::report(TimeMs now, std::uint64_t boot, wire::ClientHeartbeat& hb) {
    if (changed_ || reported_boot_ != boot) {
        reported_ = delays();
        ++report_no_;
        changed_ = false;
        reported_boot_ = boot;
        last_report_ = now;
    }
    if (report_acked_ < report_no_) {
        hb.has_delays = true;
        hb.report = report_no_;
        for (auto& [k, v] : reported_)
            if (hb.delays.size() < wire::kMaxRoleRelays) hb.delays.push_back({k, v});
    }
}

void Measuring::next_wakeup(TimeMs now, bool directory, const std::vector<Addr>& room_relays,
                            std::optional<TimeMs>& t) const {
    for (auto& [a, r] : relays_)
        if (r.listed) earliest(t, r.next_probe);
    for (auto& a : room_relays)
        if (auto it = relays_.find(a); it != relays_.end()) earliest(t, it->second.next_probe);
    if (directory && changed_) earliest(t, std::max(now, last_report_ + ctx_.cfg.report_interval));
}

std::vector<RelayView> Measuring::view() const {
    std::vector<RelayView> v;
    for (auto& [a, r] : relays_) v.push_back({r.key_known ? r.key : PublicKey{}, a, r.rtt});
    return v;
}

}  // namespace dc::roles::detail
