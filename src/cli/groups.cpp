// The terminal's side of conversation groups (darkchat(1), GROUPS): the line each
// group event is shown as, \groups and \members, and finding a group by the words
// typed (a title, or the start of its id).
#include "darkchat/cli.hpp"

#include "darkchat/crypto.hpp"

#include <algorithm>

namespace dc::cli {

namespace {

// A key as the user knows it: its user name, else its fingerprint.
std::string who(const PublicKey& key, const GroupNames& names) {
    std::string n = names.name ? names.name(key) : std::string();
    return n.empty() ? crypto::fingerprint(key) : printable(n);
}

std::string quoted_title(const std::string& title) { return title.empty() ? "" : " \"" + printable(title) + "\""; }

// "3f2a91c0 title" in the brackets before a group's lines.
std::string line_label(const groups::GroupId& id, const GroupNames& names) {
    std::string title = names.title ? names.title(id) : std::string();
    return "[" + short_id(id) + (title.empty() ? "" : " " + printable(title)) + "]";
}

const char* kind_name(groups::Kind k) { return k == groups::Kind::pair ? "private" : "public"; }

std::string count(std::size_t n, const char* noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

std::string epoch_note(std::uint64_t epoch) { return " (epoch " + std::to_string(epoch) + ")"; }

std::string answered(const groups::ev::Answered& a, const GroupNames& names) {
    const std::string from = who(a.from, names);
    switch (a.answer) {
    case groups::Answer::yes: return "* " + from + " said yes to your request";
    case groups::Answer::no: return "* " + from + " said no to your request";
    case groups::Answer::answering_machine: return "* " + from + " is away: your request waits for them";
    case groups::Answer::derivation: return "* " + from + " passed your request to the coordinator of its group";
    case groups::Answer::disconnected_group: return "* " + from + " is not in that group";
    case groups::Answer::no_updated_group: return "* " + from + " has not had the group's new list yet";
    }
    return "* " + from + " answered your request";
}

std::string gone(const groups::ev::Gone& g, const GroupNames& names) {
    const std::string group = "group " + group_label(g.group, names);
    if (g.ceased) return "* " + group + " ceased (fewer than two members)";
    switch (g.why) {
    case groups::Change::left: return "* you left " + group;
    case groups::Change::removed: return "* " + who(g.by.key, names) + " removed you from " + group;
    default: return "* " + group + " lost you" + (g.entering_again ? ": entering again" : "");
    }
}

std::string member_list(const std::vector<groups::Member>& members, const GroupNames& names) {
    std::string s;
    for (std::size_t i = 0; i < members.size(); ++i)
        s += (i ? ", " : "") + who(members[i].key, names) + (i == 0 ? " (coordinator)" : "");
    return s;
}

}  // namespace

// What darkchat says about a group names it so.
std::string group_label(const groups::GroupId& id, const GroupNames& names) {
    return short_id(id) + quoted_title(names.title ? names.title(id) : std::string());
}

std::string render(const groups::Event& e, const GroupNames& names) {
    return std::visit(
        [&](auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            namespace gev = groups::ev;
            if constexpr (std::is_same_v<T, gev::RequestArrived>) {
                const std::string n = std::to_string(x.id);
                const std::string answer = ": \\yes " + n + " or \\no " + n;
                if (x.invitation)
                    return "* " + who(x.from, names) + " invites you into group " + short_id(x.group) +
                           quoted_title(x.title) + answer;
                return "* " + who(x.from, names) + " asks you into a new group (" + kind_name(x.kind) + ")" + answer;
            } else if constexpr (std::is_same_v<T, gev::Answered>) {
                return answered(x, names);
            } else if constexpr (std::is_same_v<T, gev::Joined>) {
                return "* joined group " + short_id(x.group) + quoted_title(x.title) + " at epoch " +
                       std::to_string(x.epoch) + " with " + member_list(x.members, names);
            } else if constexpr (std::is_same_v<T, gev::MemberEntered>) {
                return "* group " + group_label(x.group, names) + ": " + who(x.member.key, names) + " entered" +
                       epoch_note(x.epoch);
            } else if constexpr (std::is_same_v<T, gev::MemberLeft>) {
                return "* group " + group_label(x.group, names) + ": " + who(x.member.key, names) +
                       (x.lost ? " was lost" : " left") + epoch_note(x.epoch);
            } else if constexpr (std::is_same_v<T, gev::MemberRemoved>) {
                return "* group " + group_label(x.group, names) + ": " + who(x.by.key, names) + " removed " +
                       who(x.member.key, names) + epoch_note(x.epoch);
            } else if constexpr (std::is_same_v<T, gev::NewEpoch>) {
                return "* group " + group_label(x.group, names) + ": epoch " + std::to_string(x.epoch) + ", " +
                       count(x.members, "member") + ", coordinator " + who(x.coordinator, names);
            } else if constexpr (std::is_same_v<T, gev::CoordinatorChanged>) {
                return "* group " + group_label(x.group, names) + ": " + who(x.coordinator.key, names) +
                       " is the coordinator now";
            } else if constexpr (std::is_same_v<T, gev::Renamed>) {
                return "* group " + short_id(x.group) + ": " + who(x.by.key, names) + " named it" +
                       (x.title.empty() ? std::string(" nothing") : quoted_title(x.title));
            } else if constexpr (std::is_same_v<T, gev::Gone>) {
                return gone(x, names);
            } else if constexpr (std::is_same_v<T, gev::EntryFailed>) {
                return "! group " + group_label(x.group, names) + ": entry failed (" +
                       printable(x.why, Backslash::kept) + ")";
            } else if constexpr (std::is_same_v<T, gev::Line>) {
                // Our own, as a chat line of ours is shown: what went, not a line from someone.
                if (x.own) return "* sent to " + line_label(x.group, names) + ": " + printable(x.text);
                return line_label(x.group, names) + " <" + who(x.author, names) + "> " + printable(x.text);
            } else if constexpr (std::is_same_v<T, gev::WaitingForKey>) {
                return "* group " + group_label(x.group, names) + ": waiting for the key of epoch " +
                       std::to_string(x.epoch);
            } else if constexpr (std::is_same_v<T, gev::Moved>) {
                return "* group " + group_label(x.group, names) + ": " + who(x.by.key, names) +
                       (x.relay ? " moved its lines to relay " + x.relay->to_string()
                                : std::string(" moved its lines back to member to member")) +
                       epoch_note(x.epoch);
            } else if constexpr (std::is_same_v<T, gev::NotMember>) {
                return "! group " + group_label(x.group, names) + ": not a member at epoch " + std::to_string(x.epoch) +
                       " (its lines cannot be read here)";
            } else {
                static const groups::GroupId none{};
                const std::string text = printable(x.text, Backslash::kept);
                if (x.group == none) return "! " + text;
                return "! group " + group_label(x.group, names) + ": " + text;
            }
        },
        e);
}

std::string render_group(const groups::GroupView& g, const GroupNames& names) {
    std::string s = short_id(g.id) + quoted_title(g.title) + " " + kind_name(g.kind) + " epoch " +
                    std::to_string(g.epoch) + ", " + count(g.members.size(), "member");
    if (!g.members.empty()) s += ", coordinator " + who(g.members.front().key, names);
    if (g.relay) s += ", through relay " + g.relay->addr.to_string();
    return s;
}

std::string render_members_header(const groups::GroupView& g) {
    return "* group " + short_id(g.id) + quoted_title(g.title) + " epoch " + std::to_string(g.epoch) +
           (g.has_key ? ", key held" : ", waiting for its key") + ":";
}

std::string render_member(const groups::GroupView& g, std::size_t i, const GroupNames& names) {
    const groups::Member& m = g.members.at(i);
    const std::string fp = crypto::fingerprint(m.key), name = who(m.key, names);
    return (name == fp ? fp : name + " " + fp) + (i == 0 ? " (coordinator)" : "");
}

std::vector<groups::GroupView> find_groups(const std::vector<groups::GroupView>& all, std::string_view which) {
    std::vector<groups::GroupView> out;
    for (auto& g : all)
        if (g.title == which || (id_prefix(which) && id_starts_with(g.id, which))) out.push_back(g);
    return out;
}

}  // namespace dc::cli
