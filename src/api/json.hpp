// JSON inside the API (nlohmann/json, Debian's nlohmann-json3-dev): only
// src/api includes it; the driver and the tests see bytes and api.hpp.
#pragma once

#include "darkchat/api.hpp"

#include <nlohmann/json.hpp>

namespace dc::api {

using json = nlohmann::json;

// JSON text of j on one line; text that is not UTF-8 (a peer's) becomes U+FFFD
// instead of failing.
inline std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// The event as the params of an "event" notification, without seq, at and line.
json event_json(const host::Event& e, const host::Host& host);
json history_json(const HistoryRecord& m);
json line_json(const LineRecord& l);  // a group's or room's stored line (history with group or room)

// JSON-RPC 2.0 error codes (and ours, from -32000 down).
namespace code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int refused = -32000;     // the node refused it (unknown user, no such group ...)
inline constexpr int unavailable = -32001;  // this node does not run that part (no room client)
inline constexpr int read_failed = -32002;  // the store or a name lookup failed
}  // namespace code

}  // namespace dc::api
