// The directory's placement of chats on relays (placement.hpp).

#include "placement.hpp"

namespace dc::roles::detail {

Placed placed(const ChatTable& chats) {
    Placed p;
    for (auto& [id, ch] : chats) place(p, ch, +1);
    return p;
}

void place(Placed& p, const Chat& ch, int sign) {
    auto& l = p[ch.relay_key];
    const auto n = static_cast<std::uint32_t>(ch.members.size());
    if (sign > 0) {
        ++l.rooms;
        l.members += n;
    } else {
        l.rooms -= std::min<std::uint32_t>(l.rooms, 1);
        l.members -= std::min(l.members, n);
    }
}

std::vector<Candidate> candidates(const RelayTable& relays, const Placed* placed) {
    std::vector<Candidate> v;
    for (auto& [k, r] : relays) {
        if (!r.alive) continue;
        Load load = r.load;
        if (placed)
            if (auto p = placed->find(k); p != placed->end()) {
                load.rooms = std::max(load.rooms, p->second.rooms);
                load.members = std::max(load.members, p->second.members);
            }
        v.push_back({r.key, r.addr, load});
    }
    return v;
}

Strategy Placement::strategy() const {
    return cfg_.strategy == Strategy::client_round_robin ? Strategy::round_robin : cfg_.strategy;
}

std::optional<Candidate> Placement::choose(const RelayTable& relays, std::span<const DelayVector> parts,
                                           const Placed& placed) {
    auto cands = candidates(relays, &placed);
    auto i = select_relay(strategy(), cands, parts, sel_);
    if (!i) return std::nullopt;
    return cands[*i];
}

std::optional<Move> Placement::relocation(TimeMs now, const RelayTable& relays, const std::vector<Candidate>& cands,
                                          const Chat& ch, std::span<const DelayVector> parts, const Placed& placed) {
    auto r = relays.find(ch.relay_key);
    const bool dead = r == relays.end() || !r->second.alive;
    if (dead) {
        if (cands.empty()) return std::nullopt;  // nowhere to go; retried every pass
        auto to = choose(relays, parts, placed);
        if (!to) {
            Selector rr(0);
            rr.cursor = sel_.cursor++;
            to = cands[*select_relay(Strategy::round_robin, cands, {}, rr)];
        }
        return Move{*to, MoveReason::relay_died, 0, 0};
    }
    if (strategy() != Strategy::min_max || now - ch.moved < cfg_.min_dwell) return std::nullopt;
    auto best = select_relay(Strategy::min_max, cands, parts, sel_);
    if (!best || cands[*best].key == ch.relay_key) return std::nullopt;
    auto sc = score(cands[*best].key, parts);
    auto cur = score(ch.relay_key, parts);
    if (!cur) {
        if (sc && parts.size() == ch.members.size()) return Move{cands[*best], MoveReason::unreachable, 0, sc->max};
        return std::nullopt;
    }
    if (sc && clearly_better(cur->max, sc->max, cfg_.hysteresis))
        return Move{cands[*best], MoveReason::better, cur->max, sc->max};
    return std::nullopt;
}

}  // namespace dc::roles::detail
