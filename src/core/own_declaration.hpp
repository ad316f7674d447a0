// Internal to the core: what this session says about itself. It signs each
// new declaration with a sequence number above every one it used before (also
// across restarts, and never below the time in milliseconds times 1000, so a
// session whose store was lost still outnumbers its old declarations), and
// makes the Declare payloads that carry it. Time is passed in.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/wire.hpp"
#include "core/envelope.hpp"

namespace dc::core {

class OwnDeclaration {
public:
    // Numbers go on after seq (the highest this session signed, from the store).
    void resume(std::uint64_t seq) { seq_ = std::max(seq_, seq); }

    // Signs d as this session's new declaration (its seq is set here) and
    // returns the record to store.
    SessionRecord declare(Envelope& env, wire::Declaration d, TimeMs now);

    // A Declare carrying the current declaration.
    Bytes payload(std::uint8_t hops, bool reply, bool explode, std::uint64_t nonce) const;

    const wire::SignedBlob& blob() const { return blob_; }
    std::uint64_t seq() const { return seq_; }
    bool online() const { return online_; }
    wire::MsgType type() const { return online_ ? wire::MsgType::declare_online : wire::MsgType::declare_offline; }

private:
    wire::SignedBlob blob_;
    std::uint64_t seq_ = 0;
    bool online_ = false;
};

}  // namespace dc::core
