// darkchat attached to a running node (darkchat-api(7), ATTACHING): standard
// input and the node's API socket, a line at a time, with poll(2). What the
// lines mean is api::AttachClient; here only bytes move.
#include "darkchat/api.hpp"
#include "darkchat/io.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace dc::io {

namespace {

bool write_all(int fd, const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        auto n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

void show(api::AttachClient& client) {
    while (auto l = client.poll_line()) {
        l->push_back('\n');
        std::fwrite(l->data(), 1, l->size(), stdout);
    }
    std::fflush(stdout);
}

}  // namespace

int attach(const std::string& socket_path, const std::string& which) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof a.sun_path || fd < 0) {
        std::fprintf(stderr, "darkchat: cannot attach to the node %s: no usable API socket\n", which.c_str());
        if (fd >= 0) ::close(fd);
        return 1;
    }
    std::memcpy(a.sun_path, socket_path.c_str(), socket_path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::fprintf(stderr, "darkchat: the node %s runs but its API socket %s does not answer (%s)\n",
                     which.c_str(), socket_path.c_str(), std::strerror(errno));
        ::close(fd);
        return 1;
    }
    api::AttachClient client;
    std::printf("* attached to the running node %s: lines go to it; \\quit leaves it running\n", which.c_str());
    std::fflush(stdout);
    if (!write_all(fd, client.hello())) return 1;

    std::string typed;
    bool input_open = true;
    int status = 0;
    using Clock = std::chrono::steady_clock;
    Clock::time_point leave_by{};  // after end of input: the answers still due, for a while
    for (;;) {
        if (!input_open && (client.waiting() == 0 || Clock::now() > leave_by)) break;
        pollfd p[2] = {{fd, POLLIN, 0}, {0, static_cast<short>(input_open ? POLLIN : 0), 0}};
        int n = ::poll(p, input_open ? 2 : 1, input_open ? -1 : 100);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[65536];
            auto got = ::recv(fd, buf, sizeof buf, 0);
            if (got <= 0) {
                std::printf("! the node %s stopped\n", which.c_str());
                status = 1;
                break;
            }
            client.handle_bytes(std::string_view(buf, static_cast<std::size_t>(got)));
            show(client);
        }
        if (input_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[4096];
            auto got = ::read(0, buf, sizeof buf);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                input_open = false;
                leave_by = Clock::now() + std::chrono::seconds(3);
                continue;
            }
            typed.append(buf, static_cast<std::size_t>(got));
            std::size_t nl;
            bool quit = false;
            while ((nl = typed.find('\n')) != std::string::npos) {
                std::string line = typed.substr(0, nl);
                typed.erase(0, nl + 1);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                if (line == "\\quit") {
                    quit = true;
                    break;
                }
                if (!write_all(fd, client.typed(line))) {
                    std::printf("! the node %s stopped\n", which.c_str());
                    ::close(fd);
                    return 1;
                }
            }
            if (quit) {
                std::printf("* detached; the node %s goes on\n", which.c_str());
                break;
            }
        }
    }
    std::fflush(stdout);
    ::close(fd);
    return status;
}

}  // namespace dc::io
