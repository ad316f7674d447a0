// Internal to the core: key trust. The first key seen for a name is pinned
// (the pinned key itself lives in the user's record, which the store keeps);
// this part remembers the other keys seen under pinned names, decides whether
// a key may speak for a name, which untrusted messages are shown and warned
// about, and checks a \trust before a new key is pinned. Time is passed in.
#pragma once

#include "darkchat/model.hpp"

#include <map>
#include <set>
#include <string>

namespace dc::core {

class Trust {
public:
    // Whether key may speak for user, given the key pinned for it (none: not
    // pinned yet, so trusted on first use). Another key is remembered.
    bool key_ok(const PublicKey* pinned, const std::string& user, const PublicKey& key, TimeMs now);

    // A verified chat message from an unpinned key: warn (the first time that
    // key is seen) and show (the first time that message is seen).
    struct Untrusted {
        bool warn = false;
        bool show = false;
    };
    Untrusted untrusted_message(const std::string& user, const PublicKey& key, const MessageId& id, TimeMs now);

    // \trust: the key to pin for name, when fingerprint is that of the other key
    // seen for it; the reason otherwise. A key taken is forgotten here.
    Result<PublicKey> accept(const std::string& name, const std::string& fingerprint, bool known_user);

    // The newest other key seen for user, for \keys.
    const PublicKey* other_key(const std::string& user) const;

private:
    struct Conflict {
        PublicKey key{};
        TimeMs last_seen = 0;
        bool warned = false;
    };
    Conflict& note(const std::string& user, const PublicKey& key, TimeMs now);

    static constexpr std::size_t kMaxConflicts = 256;    // names with another key remembered
    static constexpr std::size_t kMaxUntrustedIds = 4096;  // untrusted messages shown, forgotten past it
    std::map<std::string, Conflict> conflicts_;  // newest other key seen per pinned name
    std::set<MessageId> shown_;
};

}  // namespace dc::core
