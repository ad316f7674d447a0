// The terminal's side of file transfers (darkchat(1), FILES): \send, \accept and
// \decline of an offer, \files, the lines each transfer event is shown as, and
// the progress lines. What needs the file system goes to the driver as a FileRequest.
#include "darkchat/session.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <set>

namespace dc::cli {

namespace {

std::string percent(std::uint64_t have, std::uint64_t total) {
    if (total == 0) return "100%";
    return std::to_string(have * 100 / total) + "%";
}

const char* phase_name(files::Phase p) {
    switch (p) {
        case files::Phase::offered: return "offered";
        case files::Phase::transferring: return "transferring";
        case files::Phase::verifying: return "verifying";
        case files::Phase::asking: return "asking";
    }
    return "?";
}

// A file id starts with prefix (hex digits, either case).
bool id_starts(const files::FileId& id, const std::string& prefix) {
    static const char* digits = "0123456789abcdef";
    std::string full;
    for (auto b : id) {
        full += digits[b >> 4];
        full += digits[b & 15];
    }
    std::string p = prefix;
    std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return full.rfind(p, 0) == 0;
}

}  // namespace

std::uint64_t bytes_had(const files::TransferView& t) {
    if (t.chunks == 0) return 0;
    if (t.have >= t.chunks) return t.size;
    const std::uint64_t chunk = (t.size + t.chunks - 1) / t.chunks;
    return std::min(t.size, t.have * chunk);
}

std::string sessions_state(const std::vector<files::TransferView>& same_file) {
    using wire::Reply;
    constexpr std::size_t kReplies = 6;
    std::array<std::size_t, kReplies> n{};
    std::set<SessionId> counted;
    for (const auto& t : same_file)
        for (const auto& r : t.replies) {
            n[r.reply < kReplies ? r.reply : 0] += counted.insert(r.session).second;
        }
    // A session's transfer the offer does not list (its record is gone): receiving.
    for (const auto& t : same_file)
        if (t.session != SessionId{} && counted.insert(t.session).second) ++n[static_cast<std::size_t>(Reply::receiving)];
    if (counted.empty()) return "offered";
    std::string out = std::to_string(n[static_cast<std::size_t>(Reply::received)]) + " of " +
                      std::to_string(counted.size()) + (counted.size() == 1 ? " session" : " sessions") + " received";
    const std::pair<Reply, const char*> others[] = {{Reply::receiving, "receiving"}, {Reply::waiting, "waiting"},
                                                    {Reply::declined, "declined"},   {Reply::cancelled, "cancelled"},
                                                    {Reply::failed, "failed"}};
    for (const auto& [r, word] : others)
        if (auto k = n[static_cast<std::size_t>(r)]) out += ", " + std::to_string(k) + " " + word;
    return out;
}

std::optional<FileRequest> Session::poll_file_request() {
    if (file_requests_.empty()) return std::nullopt;
    FileRequest r = std::move(file_requests_.front());
    file_requests_.pop_front();
    return r;
}

template <typename A>
void Session::file_action([[maybe_unused]] TimeMs now, const A& a) {
    // A room's file is shared like a group's: the room's id stands for the group's.
    [[maybe_unused]] const auto shared = room_ ? std::optional<groups::GroupId>(*room_) : group_;
    if constexpr (std::is_same_v<A, action::SendFile>) {
        if (shared) file_requests_.push_back({FileRequest::Kind::send, a.path, {}, {}, {}, shared});
        else if (partner_.empty()) say("! no chat partner: \\chat <username> first");
        else file_requests_.push_back({FileRequest::Kind::send, a.path, partner_, {}, {}, {}});
    } else if constexpr (std::is_same_v<A, action::Fetch>) {
        if (!shared) say("! \\fetch asks the members of a group or a room: \\group <id> or \\room <id> first");
        else file_requests_.push_back({FileRequest::Kind::fetch, {}, {}, {}, a.name, shared});
    } else if constexpr (std::is_same_v<A, action::CancelFile>) {
        files::Machine* m = host_.files();
        std::map<files::FileId, files::Side> found;
        if (m)
            for (auto& t : m->transfers())
                if (t.side != files::Side::holding && id_starts(t.id, a.id)) found.emplace(t.id, t.side);
        if (found.empty()) {
            say("! no transfer starts with " + a.id + " (\\files lists them)");
        } else if (found.size() > 1) {
            say("! " + std::to_string(found.size()) + " transfers start with " + a.id + ": give more of the id");
        } else {
            const auto [id, side] = *found.begin();
            offers_.erase(id);
            host_.handle_file_command(now, files::cmd::Cancel{id, side});  // its event says so
        }
    } else if constexpr (std::is_same_v<A, action::Unhold>) {
        files::Machine* m = host_.files();
        std::vector<files::TransferView> found;
        if (m)
            for (auto& t : m->transfers())
                if (t.side == files::Side::holding && id_starts(t.id, a.id)) found.push_back(t);
        if (found.empty()) {
            say("! no file held for a group or room starts with " + a.id + " (\\files lists them)");
        } else if (found.size() > 1) {
            say("! " + std::to_string(found.size()) + " held files start with " + a.id + ": give more of the id");
        } else {
            host_.handle_file_command(now, files::cmd::Unhold{found[0].id});
            say("* file " + short_id(found[0].id) + " no longer held for " + shared_in(found[0].group) + ": " +
                printable(found[0].name) + " (the file itself stays)");
        }
    } else {
        files::Machine* m = host_.files();
        if (!m) {
            say("! file transfers do not run on this port");
            return;
        }
        std::size_t n = 0, held = 0;
        const auto all = m->transfers();
        std::set<files::FileId> folded;
        for (auto& t : all) {
            // A file to a contact: one line for the offer and every session's transfer.
            if (t.side == files::Side::sending && t.group == files::GroupId{}) {
                if (!folded.insert(t.id).second) continue;
                std::vector<files::TransferView> same;
                std::copy_if(all.begin(), all.end(), std::back_inserter(same), [&](const files::TransferView& x) {
                    return x.side == files::Side::sending && x.id == t.id && x.group == files::GroupId{};
                });
                const std::string who = name_of(t.peer);
                say("  " + short_id(t.id) + " to " + printable(who.empty() ? "?" : who) + " " + printable(t.name) +
                    " " + std::to_string(t.size) + " bytes " + sessions_state(same));
                ++n;
                continue;
            }
            if (t.side == files::Side::holding) {
                say("  " + short_id(t.id) + " held for " + shared_in(t.group) + " " +
                    printable(t.name) + " " + std::to_string(t.size) + " bytes");
                ++n;
                ++held;
                continue;
            }
            const bool in = t.side == files::Side::receiving;
            std::string who = name_of(t.peer);
            if (who.empty()) who = t.phase == files::Phase::asking ? shared_in(t.group) : "?";
            const std::uint64_t had = in ? bytes_had(t) : 0;
            say("  " + short_id(t.id) + (in ? " from " : " to ") + printable(who) + " " + printable(t.name) + " " +
                std::to_string(t.size) + " bytes " + phase_name(t.phase) + (in ? " " + percent(had, t.size) : ""));
            ++n;
        }
        for (auto& [id, o] : offers_) {
            say("  " + short_id(id) + " from " + printable(name_of(o.from)) + " " + printable(o.name) + " " +
                std::to_string(o.size) + " bytes waiting (\\accept " + short_id(id) + ")");
            ++n;
        }
        say("* " + std::to_string(n - held) + (n - held == 1 ? " transfer" : " transfers") +
            (held ? ", " + std::to_string(held) + " held for groups and rooms" : std::string()));
    }
}
template void Session::file_action(TimeMs, const action::SendFile&);
template void Session::file_action(TimeMs, const action::Fetch&);
template void Session::file_action(TimeMs, const action::Files&);
template void Session::file_action(TimeMs, const action::Unhold&);
template void Session::file_action(TimeMs, const action::CancelFile&);

// \accept or \decline with an id prefix of an offer waiting: true when it named one
// (taken, refused, or said to be ambiguous); false leaves the words to the rooms.
bool Session::file_answer(TimeMs now, bool accept, const std::string& prefix) {
    if (prefix.empty() || !id_prefix(prefix)) return false;
    std::vector<files::FileId> found;
    for (auto& [id, o] : offers_)
        if (id_starts(id, prefix)) found.push_back(id);
    if (found.empty()) return false;
    if (found.size() > 1) {
        say("! " + std::to_string(found.size()) + " file offers start with " + prefix + ": give more of the id");
        return true;
    }
    auto it = offers_.find(found.front());
    if (accept) {
        file_requests_.push_back({FileRequest::Kind::accept, {}, {}, it->first, it->second.name, {}});
    } else {
        host_.handle_file_command(now, files::cmd::Decline{it->first});
        say("* file " + short_id(it->first) + " declined");
    }
    offers_.erase(it);
    return true;
}

std::string Session::shared_in(const files::GroupId& id) {
    groups::Machine* machine = host_.groups();
    auto* client = host_.room_client();
    // A group on a relay has a room of the same id: it is the group.
    if (!(machine && machine->group(id)) && client && client->unacked(id)) return "room " + roles::short_id(id);
    return "group " + group_label(id, group_names());
}

void Session::file_event(const files::Event& e) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, files::ev::Offered>) {
                std::string from = name_of(x.from);
                say("* file " + short_id(x.id) + " offered by " + printable(from.empty() ? "?" : from) + ": " +
                    printable(x.name) + " (" + std::to_string(x.size) + " bytes, " + printable(x.media_type) + ")");
                offered(x);
            } else if constexpr (std::is_same_v<T, files::ev::Announced>) {
                std::string from = name_of(x.from);
                say("* file " + short_id(x.id) + " shared by " + printable(from.empty() ? "?" : from) + " in " +
                    shared_in(x.group) + ": " + printable(x.name) + " (" + std::to_string(x.size) +
                    " bytes, " + printable(x.media_type) + ")");
                offered(files::ev::Offered{x.id, x.from, x.name, x.size, x.media_type});
            } else if constexpr (std::is_same_v<T, files::ev::Shared>) {
                say("* file " + short_id(x.id) + " shared with " + shared_in(x.group) + " (to " +
                    std::to_string(x.members) + (x.members == 1 ? " member" : " members") + "): " +
                    printable(x.name) + " (" + std::to_string(x.size) + " bytes)");
            } else if constexpr (std::is_same_v<T, files::ev::Refused>) {
                say("! a file offer from " + printable(name_of(x.from)) + " was refused: " + printable(x.why, Backslash::kept));
            } else if constexpr (std::is_same_v<T, files::ev::Accepted>) {
                say("* file " + short_id(x.id) + " accepted by " + printable(name_of(x.by)));
            } else if constexpr (std::is_same_v<T, files::ev::Declined>) {
                say("! file " + short_id(x.id) + " declined by " + printable(name_of(x.by)));
            } else if constexpr (std::is_same_v<T, files::ev::Completed>) {
                progress_.erase(x.id);
                say("* file " + short_id(x.id) + " received from " + printable(name_of(x.from)) + ": " +
                    (x.image ? files::image_label(*x.image) + " " : std::string()) + printable(x.path, Backslash::kept));
            } else if constexpr (std::is_same_v<T, files::ev::Delivered>) {
                say("* file " + short_id(x.id) + " delivered to " + printable(name_of(x.to)));
            } else if constexpr (std::is_same_v<T, files::ev::Cancelled>) {
                offers_.erase(x.id);
                progress_.erase(x.id);
                const std::string by = printable(name_of(x.by));
                std::string why;
                switch (x.reason) {
                    case wire::CancelReason::cancelled: break;
                    case wire::CancelReason::unreadable:
                        why = ": " + by + " no longer has the file as offered (changed or unreadable)";
                        break;
                    case wire::CancelReason::not_offered: why = ": " + by + " no longer offers it"; break;
                    case wire::CancelReason::too_many:
                        why = ": " + by + "'s offer already went to " + std::to_string(wire::kMaxOfferSessions) +
                              " devices";
                        break;
                }
                say("! file " + short_id(x.id) + " cancelled by " + by + why);
            } else if constexpr (std::is_same_v<T, files::ev::Failed>) {
                progress_.erase(x.id);
                if (x.id == files::FileId{}) say("! file: " + printable(x.why, Backslash::kept));
                else say("! file " + short_id(x.id) + " failed: " + printable(x.why, Backslash::kept));
            }
        },
        e);
}

// An offer, or a file shared in a group: taken at once from a contact within the
// automatic limit, else kept for \accept or \decline.
void Session::offered(const files::ev::Offered& x) {
    const std::string id = short_id(x.id);
    const std::string from = name_of(x.from);
    const core::Node* node = host_.node();
    auto u = node && !from.empty() ? node->user(from) : std::nullopt;
    if (u && u->contact && x.size <= file_settings_.auto_accept) {
        say("* file " + id + " accepted (from a contact, at most " + std::to_string(file_settings_.auto_accept) +
            " bytes are taken without asking)");
        file_requests_.push_back({FileRequest::Kind::accept, {}, {}, x.id, x.name, {}});
    } else {
        offers_[x.id] = x;
        say("* \\accept " + id + " to take it, \\decline " + id + " to refuse it");
    }
}

void Session::show_progress(TimeMs now) {
    for (auto& line : progress_lines(now)) say(std::move(line));
}

std::vector<std::string> Session::progress_lines(TimeMs now) {
    std::vector<std::string> lines;
    files::Machine* m = host_.files();
    if (!m) return lines;
    for (auto& t : m->transfers()) {
        if (t.side != files::Side::receiving || t.phase == files::Phase::offered || t.phase == files::Phase::asking)
            continue;
        const std::uint64_t had = bytes_had(t);
        auto [it, fresh] = progress_.try_emplace(t.id, Progress{had, now});
        std::string rate = "-", eta = "-";
        if (!fresh && now > it->second.at && had >= it->second.bytes) {
            const std::uint64_t per_s = (had - it->second.bytes) * 1000 / static_cast<std::uint64_t>(now - it->second.at);
            rate = std::to_string(per_s);
            if (per_s > 0) eta = std::to_string((t.size - had + per_s - 1) / per_s);
        }
        it->second = Progress{had, now};
        lines.push_back("~ file " + short_id(t.id) + " " + printable(t.name) + " " + std::to_string(had) + "/" +
                        std::to_string(t.size) + " " + percent(had, t.size) + " " + rate + "/s " + eta);
    }
    return lines;
}

}  // namespace dc::cli
