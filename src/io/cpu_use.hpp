// Internal to the driver: a relay's CPU use, measured about once a second and handed
// to the Host (Host::handle_cpu), which a relay reports to its directory (cpu_use.cpp).
#pragma once

#include "darkchat/roles.hpp"

#include <cstdint>
#include <optional>

namespace dc::io {

class CpuSampler {
public:
    // The use since the previous call, in permille: of one core by this process, of all
    // cores by the machine. None on the first call (the baseline) and when less than
    // min_interval_ns has passed, so that a sample spans about a second.
    std::optional<roles::CpuUse> sample(std::uint64_t min_interval_ns = 1'000'000'000);

private:
    bool have_ = false;
    std::uint64_t at_ns_ = 0;         // uv_hrtime of the last sample
    std::uint64_t self_us_ = 0;       // user + system time of this process
    std::uint64_t busy_ms_ = 0;       // non-idle time of all cores (uv_cpu_info, ms)
    std::uint64_t total_ms_ = 0;      // all time of all cores
};

}  // namespace dc::io
