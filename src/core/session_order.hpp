// Session ids in the order of their bytes (std::array's own order), compared as
// one 64-bit integer read big-endian instead of with memcmp: the maps a node
// keeps by session (its users' sessions, its channels, who each channel
// belongs to) compare ids on every packet, and a call to memcmp per comparison
// cost more than the rest of the lookup. The order is the same, so everything
// that walks these maps does so as before.
#pragma once

#include "darkchat/types.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

namespace dc::core {

inline std::uint64_t session_order_key(const SessionId& s) {
    static_assert(sizeof(SessionId) == sizeof(std::uint64_t));
    std::uint64_t v;
    std::memcpy(&v, s.data(), sizeof v);
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    return v;
}

struct SessionIdLess {
    bool operator()(const SessionId& a, const SessionId& b) const {
        return session_order_key(a) < session_order_key(b);
    }
};

}  // namespace dc::core
