// Each event of the Host as the JSON object of an "event" notification
// (darkchat-api(7), EVENTS): a kind, the event's own fields, and the line the
// terminal showed for it.
#include "api/json.hpp"

#include "darkchat/crypto.hpp"

namespace dc::api {

namespace {

json member(const groups::Member& m) { return {{"name", m.name}, {"key", to_hex(m.key)}}; }

json of(const core::Event& e) {
    return std::visit(
        [](const auto& v) -> json {
            using T = std::decay_t<decltype(v)>;
            using namespace core::ev;
            if constexpr (std::is_same_v<T, Ready>)
                return {{"kind", "ready"}, {"user", v.user}, {"address", v.addr.to_string()},
                        {"session", to_hex(v.session)}};
            else if constexpr (std::is_same_v<T, Presence>)
                return {{"kind", "presence"}, {"user", v.user}, {"session", to_hex(v.session)},
                        {"address", v.addr.to_string()}, {"online", v.online}, {"why", v.why}};
            else if constexpr (std::is_same_v<T, Message>)
                return {{"kind", "message"}, {"message", history_json(v.msg)}, {"outgoing", v.outgoing},
                        {"untrusted", v.untrusted}};
            else if constexpr (std::is_same_v<T, Queued>)
                return {{"kind", "queued"}, {"id", to_hex(v.id)}, {"to", v.to}, {"recipient_online", v.recipient_online}};
            else if constexpr (std::is_same_v<T, Delivered>)
                return {{"kind", "delivered"}, {"id", to_hex(v.id)}, {"to", v.to}};
            else if constexpr (std::is_same_v<T, Held>)
                return {{"kind", "held"}, {"id", to_hex(v.id)}, {"to", v.to}, {"holder", v.holder}};
            else if constexpr (std::is_same_v<T, Linked>)
                return {{"kind", "linked"}, {"user", v.user}, {"by_them", v.by_them}};
            else if constexpr (std::is_same_v<T, Explored>)
                return {{"kind", "explored"}, {"answers", v.answers}};
            else if constexpr (std::is_same_v<T, Notice>)
                return {{"kind", "notice"}, {"text", v.text}};
            else if constexpr (std::is_same_v<T, Problem>)
                return {{"kind", "problem"}, {"text", v.text}};
            else {
                static_assert(std::is_same_v<T, KeyWarning>);
                return {{"kind", "key_warning"}, {"user", v.user}, {"pinned", crypto::fingerprint(v.pinned)},
                        {"seen", crypto::fingerprint(v.seen)}};
            }
        },
        e);
}

json of(const roles::RoomEvent& e) {
    return std::visit(
        [](const auto& v) -> json {
            using T = std::decay_t<decltype(v)>;
            using namespace roles::room_ev;
            if constexpr (std::is_same_v<T, DirectoryUp>)
                return {{"kind", "room.directory_up"}, {"address", v.addr.to_string()}};
            else if constexpr (std::is_same_v<T, DirectoryLost>)
                return {{"kind", "room.directory_lost"}, {"address", v.addr.to_string()}};
            else if constexpr (std::is_same_v<T, RequestStage>)
                return {{"kind", "room.request_stage"}, {"user", v.user}, {"stage", static_cast<int>(v.stage)},
                        {"detail", v.detail}};
            else if constexpr (std::is_same_v<T, Invited>)
                return {{"kind", "room.invited"}, {"from", v.from}, {"others", v.others}};
            else if constexpr (std::is_same_v<T, InviteGone>)
                return {{"kind", "room.invite_gone"}, {"from", v.from}};
            else if constexpr (std::is_same_v<T, RoomJoined>)
                return {{"kind", "room.joined"}, {"room", to_hex(v.room)}, {"relay", v.relay.to_string()},
                        {"members", v.members}};
            else if constexpr (std::is_same_v<T, RoomMoved>)
                return {{"kind", "room.moved"}, {"room", to_hex(v.room)}, {"from", v.from.to_string()},
                        {"to", v.to.to_string()}};
            else if constexpr (std::is_same_v<T, MemberChange>)
                return {{"kind", "room.member"}, {"room", to_hex(v.room)}, {"user", v.user}, {"joined", v.joined}};
            else if constexpr (std::is_same_v<T, RoomLeft>)
                return {{"kind", "room.left"}, {"room", to_hex(v.room)}};
            else if constexpr (std::is_same_v<T, Line>)
                return {{"kind", "room.line"}, {"room", to_hex(v.room)}, {"author", v.author}, {"text", v.text},
                        {"sent", v.sent}, {"id", to_hex(v.id)}, {"outgoing", v.outgoing}};
            else if constexpr (std::is_same_v<T, Notice>)
                return {{"kind", "room.notice"}, {"text", v.text}};
            else {
                static_assert(std::is_same_v<T, Problem>);
                return {{"kind", "room.problem"}, {"text", v.text}};
            }
        },
        e);
}

json of(const groups::Event& e) {
    return std::visit(
        [](const auto& v) -> json {
            using T = std::decay_t<decltype(v)>;
            using namespace groups::ev;
            if constexpr (std::is_same_v<T, RequestArrived>)
                return {{"kind", "group.request"}, {"request", v.id}, {"from", v.name}, {"key", to_hex(v.from)},
                        {"private", v.kind == groups::Kind::pair}, {"invitation", v.invitation},
                        {"group", to_hex(v.group)}, {"title", v.title}};
            else if constexpr (std::is_same_v<T, Answered>)
                return {{"kind", "group.answered"}, {"key", to_hex(v.from)}, {"answer", static_cast<int>(v.answer)}};
            else if constexpr (std::is_same_v<T, Joined>) {
                json members = json::array();
                for (auto& m : v.members) members.push_back(member(m));
                return {{"kind", "group.joined"}, {"group", to_hex(v.group)}, {"epoch", v.epoch},
                        {"members", members}, {"title", v.title}};
            } else if constexpr (std::is_same_v<T, MemberEntered>)
                return {{"kind", "group.member_entered"}, {"group", to_hex(v.group)}, {"epoch", v.epoch},
                        {"member", member(v.member)}};
            else if constexpr (std::is_same_v<T, MemberLeft>)
                return {{"kind", "group.member_left"}, {"group", to_hex(v.group)}, {"epoch", v.epoch},
                        {"member", member(v.member)}, {"lost", v.lost}};
            else if constexpr (std::is_same_v<T, MemberRemoved>)
                return {{"kind", "group.member_removed"}, {"group", to_hex(v.group)}, {"epoch", v.epoch},
                        {"member", member(v.member)}, {"by", member(v.by)}};
            else if constexpr (std::is_same_v<T, NewEpoch>)
                return {{"kind", "group.epoch"}, {"group", to_hex(v.group)}, {"epoch", v.epoch},
                        {"coordinator", to_hex(v.coordinator)}, {"members", v.members}};
            else if constexpr (std::is_same_v<T, CoordinatorChanged>)
                return {{"kind", "group.coordinator"}, {"group", to_hex(v.group)}, {"coordinator", member(v.coordinator)}};
            else if constexpr (std::is_same_v<T, Renamed>)
                return {{"kind", "group.renamed"}, {"group", to_hex(v.group)}, {"title", v.title}, {"by", member(v.by)}};
            else if constexpr (std::is_same_v<T, Gone>)
                return {{"kind", "group.gone"}, {"group", to_hex(v.group)}, {"why", static_cast<int>(v.why)},
                        {"by", member(v.by)}, {"entering_again", v.entering_again}, {"ceased", v.ceased}};
            else if constexpr (std::is_same_v<T, EntryFailed>)
                return {{"kind", "group.entry_failed"}, {"group", to_hex(v.group)}, {"why", v.why}};
            else if constexpr (std::is_same_v<T, Line>)
                return {{"kind", "group.line"}, {"group", to_hex(v.group)}, {"epoch", v.epoch},
                        {"author", v.author_name}, {"key", to_hex(v.author)}, {"seq", v.seq}, {"text", v.text},
                        {"own", v.own}};
            else if constexpr (std::is_same_v<T, WaitingForKey>)
                return {{"kind", "group.waiting_for_key"}, {"group", to_hex(v.group)}, {"epoch", v.epoch}};
            else if constexpr (std::is_same_v<T, NotMember>)
                return {{"kind", "group.not_member"}, {"group", to_hex(v.group)}, {"epoch", v.epoch}};
            else if constexpr (std::is_same_v<T, Moved>)
                return {{"kind", "group.moved"}, {"group", to_hex(v.group)}, {"epoch", v.epoch},
                        {"relay", v.relay ? json(v.relay->to_string()) : json(nullptr)}, {"by", member(v.by)}};
            else {
                static_assert(std::is_same_v<T, Refused>);
                return {{"kind", "group.refused"}, {"group", to_hex(v.group)}, {"text", v.text}};
            }
        },
        e);
}

json of(const files::Event& e, const host::Host& host) {
    auto who = [&](const PublicKey& k) { return json{{"name", host.name_of(k)}, {"key", to_hex(k)}}; };
    return std::visit(
        [&](const auto& v) -> json {
            using T = std::decay_t<decltype(v)>;
            using namespace files::ev;
            if constexpr (std::is_same_v<T, Offered>)
                return {{"kind", "file.offered"}, {"id", to_hex(v.id)}, {"from", who(v.from)}, {"name", v.name},
                        {"size", v.size}, {"media_type", v.media_type}};
            else if constexpr (std::is_same_v<T, Refused>)
                return {{"kind", "file.refused"}, {"from", who(v.from)}, {"why", v.why}};
            else if constexpr (std::is_same_v<T, Accepted>)
                return {{"kind", "file.accepted"}, {"id", to_hex(v.id)}, {"by", who(v.by)}};
            else if constexpr (std::is_same_v<T, Declined>)
                return {{"kind", "file.declined"}, {"id", to_hex(v.id)}, {"by", who(v.by)}};
            else if constexpr (std::is_same_v<T, Completed>) {
                json j{{"kind", "file.completed"}, {"id", to_hex(v.id)}, {"from", who(v.from)}, {"path", v.path},
                       {"size", v.size}};
                if (v.image)
                    j["image"] = {{"width", v.image->width}, {"height", v.image->height}, {"type", v.image->type}};
                return j;
            } else if constexpr (std::is_same_v<T, Delivered>)
                return {{"kind", "file.delivered"}, {"id", to_hex(v.id)}, {"to", who(v.to)}};
            else if constexpr (std::is_same_v<T, Cancelled>)
                return {{"kind", "file.cancelled"}, {"id", to_hex(v.id)}, {"by", who(v.by)}};
            else if constexpr (std::is_same_v<T, Shared>)
                return {{"kind", "file.shared"}, {"id", to_hex(v.id)}, {"group", to_hex(v.group)}, {"name", v.name},
                        {"size", v.size}, {"members", v.members}};
            else if constexpr (std::is_same_v<T, Announced>)
                return {{"kind", "file.announced"}, {"id", to_hex(v.id)}, {"group", to_hex(v.group)},
                        {"from", who(v.from)}, {"name", v.name}, {"size", v.size}, {"media_type", v.media_type}};
            else {
                static_assert(std::is_same_v<T, Failed>);
                return {{"kind", "file.failed"}, {"id", to_hex(v.id)}, {"why", v.why}};
            }
        },
        e);
}

}  // namespace

json line_json(const LineRecord& l) {
    json j{{l.room ? "room" : "group", to_hex(l.conversation)}, {"author", l.author}, {"sent", l.sent},
           {"stored", l.stored}, {"own", l.own}, {"text", l.text}};
    if (!l.room) j["key"] = to_hex(l.author_key);
    return j;
}

json history_json(const HistoryRecord& m) {
    return {{"id", to_hex(m.id)}, {"from", m.from}, {"to", m.to}, {"sent", m.sent}, {"stored", m.stored},
            {"text", m.text}};
}

json event_json(const host::Event& e, const host::Host& host) {
    if (auto* c = std::get_if<core::Event>(&e)) return of(*c);
    if (auto* r = std::get_if<roles::RoomEvent>(&e)) return of(*r);
    if (auto* g = std::get_if<groups::Event>(&e)) return of(*g);
    if (auto* f = std::get_if<files::Event>(&e)) return of(*f, host);
    return {{"kind", "log"}, {"text", std::get<host::Line>(e).text}};
}

}  // namespace dc::api
