// What the small worlds of the sans-IO parts (groups_net.hpp, files_net.hpp) share: the
// crypto's random bytes and each station's identity drawn from one seed, and the loop
// that runs a world in virtual time.
#pragma once

#include "darkchat/crypto.hpp"
#include "core/rng.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace dc::seeded {

// libsodium, with every random byte from a seed so that runs replay; Base is a part's
// SodiumCrypto.
template <typename Base>
class Seeded final : public Base {
public:
    explicit Seeded(std::uint64_t seed) : rng_(seed) {}
    void random(std::span<std::uint8_t> out) override {
        for (auto& b : out) b = static_cast<std::uint8_t>(rng_.next());
    }

private:
    Rng rng_;
};

// Station i's identity in the world of seed.
inline crypto::KeyPair station_identity(std::uint64_t seed, std::size_t i) {
    std::array<std::uint8_t, 32> ks{};
    std::uint64_t x = seed * 1000003 + i + 1;
    for (auto& b : ks) b = static_cast<std::uint8_t>(splitmix64(x));
    return crypto::identity_from_seed(ks);
}

// Runs a small world until `until`, at most max_steps inputs: each step takes the earliest
// of the next queued item (a map keyed by (time, order)) and the live stations' timers
// (a timer wins a tie), moves now to it and hands it on: on_timer(i) or on_item(item).
// Afterwards now is at least until.
template <typename Stations, typename Queue, typename OnTimer, typename OnItem>
void run_world(Stations& st, Queue& queue, TimeMs& now, TimeMs until, std::size_t max_steps, OnTimer on_timer,
               OnItem on_item) {
    for (std::size_t step = 0; step < max_steps; ++step) {
        std::optional<TimeMs> next;
        if (!queue.empty()) next = queue.begin()->first.first;
        std::size_t timer_of = st.size();
        for (std::size_t i = 0; i < st.size(); ++i) {
            if (!st[i].alive) continue;
            if (auto t = st[i].m->poll_timeout(); t && (!next || std::max(*t, now) < *next)) {
                next = std::max(*t, now);
                timer_of = i;
            }
        }
        if (!next || *next > until) break;
        now = *next;
        if (timer_of < st.size()) {
            on_timer(timer_of);
            continue;
        }
        auto it = queue.begin();
        auto item = std::move(it->second);
        queue.erase(it);
        on_item(item);
    }
    now = std::max(now, until);
}

}  // namespace dc::seeded
