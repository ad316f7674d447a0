// What a relay's CPU use is (cpu_use.hpp): libuv's process usage and per-core times,
// differences over the interval between two samples.

#include "cpu_use.hpp"

#include <uv.h>

#include <algorithm>

namespace dc::io {

namespace {

std::uint64_t micros(const uv_timeval_t& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(t.tv_usec);
}

std::uint32_t permille(std::uint64_t part, std::uint64_t whole, std::uint32_t cap) {
    if (whole == 0) return 0;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(part * 1000 / whole, cap));
}

}  // namespace

std::optional<roles::CpuUse> CpuSampler::sample(std::uint64_t min_interval_ns) {
    const std::uint64_t now = uv_hrtime();
    if (have_ && now - at_ns_ < min_interval_ns) return std::nullopt;
    uv_rusage_t ru{};
    if (uv_getrusage(&ru) != 0) return std::nullopt;
    const std::uint64_t self = micros(ru.ru_utime) + micros(ru.ru_stime);
    uv_cpu_info_t* cpus = nullptr;
    int count = 0;
    std::uint64_t busy = 0, total = 0;
    if (uv_cpu_info(&cpus, &count) == 0) {
        for (int i = 0; i < count; ++i) {
            const auto& t = cpus[i].cpu_times;
            const std::uint64_t b = t.user + t.nice + t.sys + t.irq;
            busy += b;
            total += b + t.idle;
        }
        uv_free_cpu_info(cpus, count);
    }
    std::optional<roles::CpuUse> out;
    if (have_) {
        roles::CpuUse use;
        const std::uint64_t elapsed_us = (now - at_ns_) / 1000;
        // One core's worth is 1000; a process with threads busy at once could show more,
        // but the relay's work is its one loop: capped at one core.
        use.self = permille(self - std::min(self, self_us_), elapsed_us, 1000);
        use.machine = permille(busy - std::min(busy, busy_ms_), total - std::min(total, total_ms_), 1000);
        use.cores = static_cast<std::uint32_t>(std::max(count, 1));
        out = use;
    }
    have_ = true;
    at_ns_ = now;
    self_us_ = self;
    busy_ms_ = busy;
    total_ms_ = total;
    return out;
}

}  // namespace dc::io
