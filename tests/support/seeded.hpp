// What the small worlds of the sans-IO parts (groups_net.hpp, files_net.hpp) draw from
// one seed: the crypto's random bytes and each station's identity.
#pragma once

#include "darkchat/crypto.hpp"
#include "core/rng.hpp"

#include <array>
#include <cstdint>
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

}  // namespace dc::seeded
