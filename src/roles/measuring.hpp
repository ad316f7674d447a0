// The room client's measuring: one probe per known relay per measure_interval; the
// smoothed round-trip times form the delay vector, reported to the directory with a
// heartbeat when it changed enough (at most every report_interval).
#pragma once

#include "room_context.hpp"

#include "core/rng.hpp"

namespace dc::roles::detail {

struct ProbeRelay {
    Addr addr;
    PublicKey key{};
    bool key_known = false;
    bool listed = false;  // by the directory (or --relays): probed while listed
    std::optional<std::uint32_t> rtt;
    double srtt = 0;
    std::uint64_t nonce = 0;  // the outstanding probe, 0: none
    TimeMs sent = 0;
    std::size_t misses = 0;
    TimeMs next_probe = 0;
};

class Measuring {
public:
    Measuring(RoomContext& ctx, std::uint64_t seed) : ctx_(ctx), rng_(seed) {}

    // The relay at a, known from now on (none when the table is full). listed: the
    // directory or --relays name it, so it is probed for its own sake.
    ProbeRelay* add(TimeMs now, const Addr& a, bool listed);
    // The relay of a room's ticket: measured too, its key taken from the ticket.
    void add_room_relay(TimeMs now, const Addr& a, const PublicKey& key);
    // The relays a directory lists as in service: measured, and every other relay
    // forgotten unless --relays names it or keep(addr) says a room is on it.
    void set_in_service(TimeMs now, const std::vector<wire::RelayInfo>& relays,
                        const std::function<bool(const Addr&)>& keep);

    // Spreads the first probes over the first moments after start.
    void start(TimeMs now);
    // Probes every listed relay that is due, then the relays of rooms (in the given
    // order) that nobody lists.
    void handle_timeout(TimeMs now, const std::vector<Addr>& room_relays);
    void on_probe_reply(TimeMs now, const Incoming& in, const wire::ProbeReply& p);

    bool alive(const ProbeRelay& r) const { return r.key_known && r.rtt.has_value(); }
    // A relay that stopped answering (probe_misses in a row), or was never known.
    bool dead(const Addr& a) const;
    bool measures(const Addr& a) const { return relays_.count(a) != 0; }
    DelayVector delays() const;
    // Alive relays in address order, except one.
    std::vector<Candidate> alive_relays(const std::optional<Addr>& except = std::nullopt) const;

    // Fills hb's delay report: a new one when the delays changed (or the directory
    // restarted: boot), else the last one again until the directory says it has it.
    void report(TimeMs now, std::uint64_t boot, wire::ClientHeartbeat& hb);
    // The directory (same boot) has every report up to seen.
    void report_seen(std::uint64_t seen) { report_acked_ = std::max(report_acked_, seen); }
    // A heartbeat is due for a changed delay vector.
    bool report_due(TimeMs now) const { return changed_ && now >= last_report_ + ctx_.cfg.report_interval; }

    void next_wakeup(TimeMs now, bool directory, const std::vector<Addr>& room_relays,
                     std::optional<TimeMs>& t) const;
    std::vector<RelayView> view() const;

private:
    // Marks the vector changed when a relay appears or disappears, or an rtt moves by
    // at least report_threshold_ms or a tenth: sub-ms noise is not reported, and the
    // directory's view is never off by more than that.
    void check();
    void probe(TimeMs now, ProbeRelay& r);

    RoomContext& ctx_;
    Rng rng_;
    std::map<Addr, ProbeRelay> relays_;
    DelayVector reported_;
    bool changed_ = true;
    TimeMs last_report_ = 0;
    std::uint64_t reported_boot_ = 0;
    std::uint64_t report_no_ = 0;     // number of the last report made
    std::uint64_t report_acked_ = 0;  // the directory's report_seen
};

}  // namespace dc::roles::detail
