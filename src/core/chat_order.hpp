// Direct chat shown in the order each author wrote it (darkchat-protocol(7),
// ORDER). Every message an author's session writes to a user carries its number
// in that stream (the author's session, the recipient), from 1. A receiver shows
// a stream's messages in number order: one that comes before the one it waits
// for (a big message still on its way over TCP, a lost datagram being resent)
// is held in memory, neither shown nor stored nor acknowledged, so its sender
// keeps it and resends it; the one waited for then lets the held ones follow.
//
// A stream never stalls for good: the sender tells the lowest number it still
// holds for us (everything below it was acknowledged, perhaps by another device
// of ours, which mirrors it to us), and a number held longer than max_wait skips
// the gap before it. A message that comes after its stream moved past it (late)
// is shown at once: order gives way to never losing a message.
#pragma once

#include "darkchat/wire.hpp"

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dc::core {

struct StreamKey {
    SessionId session{};  // the author's session
    std::string peer;     // the recipient user
    auto operator<=>(const StreamKey&) const = default;
};

// A verified message waiting for its turn, with what is needed to show and
// acknowledge it then.
struct HeldChat {
    wire::ChatMessage msg;
    wire::SignedBlob blob;
    std::string sender_user;  // the session that sent it (the author, or a mirroring device)
    SessionId sender_session{};
    Addr back;
};

class ChatOrder {
public:
    explicit ChatOrder(std::size_t max_held = 1024, std::size_t max_held_per_stream = 256, TimeMs max_wait = 60000)
        : max_held_(max_held), max_per_stream_(max_held_per_stream), max_wait_(max_wait) {}

    enum class Place {
        now,   // the next of its stream (or below what base lets it skip to): show it
        late,  // its stream moved past it (never seen, though): show it
        wait,  // numbers before it are missing: hold() it
    };
    // Where a new message (not seen before) of stream k numbered seq stands;
    // base: the sender's lowest number held for us (0: not said).
    Place place(const StreamKey& k, std::uint64_t seq, std::uint64_t base) const;
    // Keeps a message that must wait; false when there is no room (drop it
    // unacknowledged: it is resent). A resend of one held already is kept once.
    bool hold(const StreamKey& k, std::uint64_t seq, HeldChat&& m, TimeMs now);

    // The message numbered seq of stream k was shown: the stream moves to it.
    // Returns the held messages now due, in order (the caller shows each and
    // calls shown() for it, which may release more).
    std::vector<HeldChat> shown(const StreamKey& k, std::uint64_t seq, TimeMs now);
    // Streams that waited max_wait with no progress skip the gap before the
    // lowest number they hold.
    // Returns them in order (the caller shows each and calls shown()).
    std::vector<HeldChat> overdue(TimeMs now);

    std::uint64_t last_shown(const StreamKey& k) const;
    bool waiting(const StreamKey& k) const;  // holds messages for later numbers
    // From the store at start-up, and to undo a move that could not be stored.
    void set_last_shown(const StreamKey& k, std::uint64_t seq);
    // The earliest time a held message becomes overdue (none: nothing held).
    std::optional<TimeMs> next_deadline() const;

private:
    struct Stream {
        std::uint64_t last = 0;  // the last number shown (or skipped past)
        TimeMs since = 0;        // waiting without progress since then
        std::map<std::uint64_t, HeldChat> waiting;
    };
    std::vector<HeldChat> release(Stream& s);

    std::size_t max_held_, max_per_stream_;
    TimeMs max_wait_;
    std::size_t held_count_ = 0;
    std::map<StreamKey, Stream> streams_;
};

}  // namespace dc::core
