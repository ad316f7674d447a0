// Relay selection: the pure functions the directory and the inviting client choose
// a relay with, and the state they keep between choices. Internal to the roles: a
// front end names a Strategy (darkchat/roles.hpp), never calls these.
#pragma once

#include "darkchat/roles.hpp"
#include "core/rng.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace dc::roles {

// A relay the directory may choose.
struct Candidate {
    PublicKey key{};
    Addr addr;
    Load load;
};

// The min-max figure of one relay for a set of participants.
struct Score {
    std::uint32_t max = 0;  // the slowest participant's rtt to the relay
    std::uint64_t sum = 0;  // all participants' rtts together (the tie breaker)
    bool operator==(const Score&) const = default;
};
// None when some participant has not measured this relay (then it is not eligible).
std::optional<Score> score(const PublicKey& relay, std::span<const DelayVector> participants);

// State a strategy keeps between choices: the RNG for random tie breaks (seeded by the
// owner: deterministic in tests and simulations) and the round-robin cursor.
struct Selector {
    explicit Selector(std::uint64_t seed = 1) : rng(seed) {}
    Rng rng;
    std::size_t cursor = 0;  // round-robin: index of the next candidate (in the given order)
};

// Picks one of candidates (an index), or none when no candidate is eligible (the caller
// reports SERVER_ERR). candidates are alive relays in a stable order (by key).
// min-max: smallest Score::max; maxima within kTieMs count as equal, then smallest sum,
// then uniformly at random. Relays some participant has not measured are not eligible.
std::optional<std::size_t> select_relay(Strategy s, std::span<const Candidate> candidates,
                                        std::span<const DelayVector> participants, Selector& sel);
inline constexpr std::uint32_t kTieMs = 1;
// cpu: CPU uses (permille) within this count as equal (a sample's noise is larger).
inline constexpr std::uint32_t kCpuTie = 50;

// Whether a chat should move from a relay with current_max to one with candidate_max.
bool clearly_better(std::uint32_t current_max, std::uint32_t candidate_max, const Hysteresis& h);

}  // namespace dc::roles
