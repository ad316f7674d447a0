// The daemon API's methods (darkchat-api(7), METHODS): one table of name,
// parameters and handler, which the Server dispatches to and rpc.discover
// describes. Internal to src/api.
#pragma once

#include "api/json.hpp"

#include <deque>

namespace dc::api {

// What a method's handler answers: a result, an error, or later (a read is out).
struct Answer {
    json result;
    int code = 0;
    std::string message;
    bool later = false;
};
inline Answer fail(int code, std::string message) { return {nullptr, code, std::move(message), false}; }
inline Answer ok(json result = true) { return {std::move(result), 0, {}, false}; }
inline Answer later() { return {nullptr, 0, {}, true}; }

struct Call {
    TimeMs now;
    host::Host& host;
    ClientId client;
    const std::string& id;
    const json& params;
    std::deque<Read>& reads;

    std::string str(const char* name) const {
        auto it = params.find(name);
        return it == params.end() ? std::string() : it->get<std::string>();
    }
    std::optional<std::int64_t> integer(const char* name) const {
        auto it = params.find(name);
        if (it == params.end()) return std::nullopt;
        return it->get<std::int64_t>();
    }
    bool flag(const char* name) const {
        auto it = params.find(name);
        return it != params.end() && it->get<bool>();
    }
    core::Node& node() const { return *host.node(); }
};

using Handler = Answer (*)(const Call&);

struct Method {
    MethodInfo info;
    Handler run;
};

const std::vector<Method>& table();
// Whether v is of the parameter type named ("string", "integer", "boolean").
bool type_ok(const json& v, std::string_view type);

}  // namespace dc::api
