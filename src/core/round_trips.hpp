// Internal to the core: the measured round trip to each user we send chat to,
// and the retransmission timeout it gives (RFC 6298: a smoothed round trip and
// its variation). A message whose ack does not come within that time is sent
// again; a peer on the same machine is retried within a fraction of a second,
// one across the world no sooner than its round trip allows. Only first tries
// are measured (Karn): the ack of a resent message cannot say which copy it
// answers. Time is passed in.
#pragma once

#include "darkchat/core.hpp"

#include <algorithm>
#include <map>
#include <string>

namespace dc::core {

class RoundTrips {
public:
    // floor: the shortest timeout (timers and a busy receiver's disk must not look
    // like loss); fallback: the timeout before anything is measured; ceiling: the longest.
    RoundTrips(TimeMs floor, TimeMs fallback, TimeMs ceiling) : floor_(floor), fallback_(fallback), ceiling_(ceiling) {}

    // An ack came `rtt` after the first try of the message it answers.
    void sample(const std::string& target, TimeMs rtt) {
        if (est_.size() >= kMaxTargets && !est_.count(target)) est_.clear();  // start over rather than grow
        Estimate& e = est_[target];
        const double r = static_cast<double>(std::max<TimeMs>(rtt, 0));
        if (!e.measured) {
            e.srtt = r;
            e.rttvar = r / 2;
            e.measured = true;
            return;
        }
        const double err = r > e.srtt ? r - e.srtt : e.srtt - r;
        e.rttvar = 0.75 * e.rttvar + 0.25 * err;
        e.srtt = 0.875 * e.srtt + 0.125 * r;
    }

    // How long to wait for the ack of a first try to target.
    TimeMs timeout(const std::string& target) const {
        auto it = est_.find(target);
        if (it == est_.end()) return fallback_;
        const double t = it->second.srtt + std::max(4 * it->second.rttvar, 1.0);
        return std::clamp(static_cast<TimeMs>(t + 0.5), floor_, ceiling_);
    }

    bool measured(const std::string& target) const { return est_.count(target) > 0; }

private:
    static constexpr std::size_t kMaxTargets = 4096;
    struct Estimate {
        double srtt = 0, rttvar = 0;
        bool measured = false;
    };
    TimeMs floor_, fallback_, ceiling_;
    std::map<std::string, Estimate, std::less<>> est_;
};

}  // namespace dc::core
