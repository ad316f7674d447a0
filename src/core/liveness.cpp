#include "core/liveness.hpp"

#include <algorithm>

namespace dc::core {

namespace {
// A minute of clock difference between two machines is allowed for.
std::uint64_t ping_floor(TimeMs now) { return static_cast<std::uint64_t>(std::max<TimeMs>(now - 60000, 0)) << 16; }
}  // namespace

TimeMs Liveness::due(const Probe& p, const SessionId& other) const {
    if (prober(other)) return p.last_heard + std::max(p.gap, cfg_.probe_interval);
    return p.last_heard + cfg_.probe_interval_max + 2 * cfg_.probe_timeout;
}

TimeMs Liveness::wakeup(const Probe& p, const SessionId& other) const {
    if (p.started == 0) return due(p, other);
    return std::min({p.next_ping, p.next_indirect, p.started + cfg_.indirect_timeout});
}

bool Liveness::pong(Probe& p, std::uint64_t n, bool& steady) const {
    if (p.nonce != n || n == 0) return false;
    p.nonce = 0;  // single use
    steady = p.pings <= 1 && p.started != 0;
    return true;
}

void Liveness::after_pong(Probe& p, bool steady) const {
    p.gap = steady ? std::min(std::max(p.gap, cfg_.probe_interval) * 2, cfg_.probe_interval_max) : cfg_.probe_interval;
}

bool Liveness::fresh_ping(Probe& p, std::uint64_t n) const {
    if (n <= p.last_ping_in) return false;
    p.last_ping_in = n;
    return true;
}

void Liveness::heard(Probe& p, TimeMs now) const {
    p.last_heard = now;
    p.started = 0;
}

void Liveness::back(Probe& p) const {
    p.retry_gap = 0;
    p.gap = cfg_.probe_interval;
}

void Liveness::declared(Probe& p, TimeMs now, bool fresh) const {
    if (fresh) p.last_ping_in = ping_floor(now);
    p.retry_gap = 0;
    p.started = 0;
    p.gap = cfg_.probe_interval;
    p.last_heard = now;
}

void Liveness::restart(Probe& p, TimeMs now) const {
    p.retry_gap = cfg_.retry_initial;
    p.retry_at = now + cfg_.retry_initial;
    p.last_ping_in = std::max(p.last_ping_in, ping_floor(now));
}

void Liveness::back_off(Probe& p, TimeMs now) const {
    p.retry_gap = std::min(std::max(p.retry_gap * 2, cfg_.retry_initial), cfg_.retry_max);
    p.retry_at = now + p.retry_gap;
}

std::vector<Addr> Liveness::pick_neighbours(std::vector<Addr> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    rng_.shuffle(v);
    if (v.size() > kIndirectProbes) v.resize(kIndirectProbes);
    return v;
}

std::uint64_t Liveness::ping_nonce(TimeMs now, std::uint64_t random) {
    std::uint64_t low = random & 0xffff;
    ping_counter_ = std::max(ping_counter_ + 1, (static_cast<std::uint64_t>(now) << 16) | low);
    return ping_counter_;
}

}  // namespace dc::core
