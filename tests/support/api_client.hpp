// One connection to a node's daemon API socket (darkchat-api(7)), a JSON-RPC
// line at a time: what the real-process tests and bench/api_bench share. It
// says what went wrong (nullopt, ok(), closed()) and leaves what to do about
// it to its caller: a test fails, a bench stops.
#pragma once

#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace dc::support {

class ApiClient {
public:
    using json = nlohmann::json;
    using Clock = std::chrono::steady_clock;

    explicit ApiClient(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
        ok_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    explicit ApiClient(int fd) : fd_(fd), ok_(fd >= 0) {}  // a socket of our own (a socketpair)
    ~ApiClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    ApiClient(const ApiClient&) = delete;
    ApiClient& operator=(const ApiClient&) = delete;

    bool ok() const { return ok_; }        // connected
    bool closed() const { return closed_; }  // the node closed the connection
    int fd() const { return fd_; }

    // All of bytes, or false.
    bool write(const std::string& bytes) {
        std::size_t off = 0;
        while (off < bytes.size()) {
            auto n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }

    // The next line within timeout seconds (0: only what is there already); none
    // on timeout or once closed.
    std::optional<std::string> line(double timeout = 5) {
        const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
        for (int guard = 0; guard < 1000000; ++guard) {
            if (auto nl = buf_.find('\n', scan_); nl != std::string::npos) {
                std::string l = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                scan_ = 0;
                return l;
            }
            scan_ = buf_.size();
            if (closed_) return std::nullopt;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0))) <= 0) {
                if (Clock::now() >= until) return std::nullopt;
                continue;
            }
            char b[1 << 16];
            auto n = ::recv(fd_, b, sizeof b, 0);
            if (n <= 0) {
                closed_ = true;
                return std::nullopt;
            }
            buf_.append(b, static_cast<std::size_t>(n));
        }
        return std::nullopt;
    }
    // The next line as JSON (a line that is not JSON throws, as a broken node should).
    std::optional<json> read(double timeout = 5) {
        auto l = line(timeout);
        if (!l) return std::nullopt;
        return json::parse(*l);
    }

    // A request and its answer, or none within timeout seconds of each line;
    // what came before the answer (events) is kept for events_until.
    std::optional<json> call(const std::string& method, json params = nullptr, double timeout = 10) {
        json req{{"jsonrpc", "2.0"}, {"id", ++id_}, {"method", method}};
        if (!params.is_null()) req["params"] = params;
        if (!write(req.dump() + "\n")) return std::nullopt;
        for (int i = 0; i < 100000; ++i) {
            auto m = read(timeout);
            if (!m) return std::nullopt;
            if (m->contains("id") && (*m)["id"] == id_) return m;
            held_.push_back(std::move(*m));
        }
        return std::nullopt;
    }

    // The params of event notifications, until one for which done holds (it is
    // the last), within timeout seconds in all.
    std::vector<json> events_until(const std::function<bool(const json&)>& done, double timeout = 10) {
        std::vector<json> got;
        const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
        for (int guard = 0; guard < 1000000; ++guard) {
            std::optional<json> m;
            if (!held_.empty()) {
                m = std::move(held_.front());
                held_.pop_front();
            } else {
                auto left = std::chrono::duration<double>(until - Clock::now()).count();
                if (left <= 0) return got;
                m = read(left);
                if (!m) return got;
            }
            if (m->value("method", "") != "event") continue;
            got.push_back((*m)["params"]);
            if (done(got.back())) return got;
        }
        return got;
    }

private:
    int fd_ = -1;
    bool ok_ = false;
    bool closed_ = false;
    int id_ = 0;
    std::string buf_;
    std::size_t scan_ = 0;  // buf_ up to here has no newline
    std::deque<json> held_;
};

}  // namespace dc::support
