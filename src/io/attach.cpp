// darkchat attached to a running node (darkchat-api(7), ATTACHING): standard
// input and the node's API socket, a line at a time, with poll(2). What the
// lines mean is api::AttachClient; here only bytes move. On a terminal the
// line is edited as when darkchat runs its own node (terminal.hpp).
#include "darkchat/api.hpp"
#include "darkchat/cli.hpp"
#include "darkchat/io.hpp"

#include "terminal.hpp"

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

// Output lines, above the line being edited on a terminal.
void say(Terminal* term, std::string text) {
    text.push_back('\n');
    if (term) return term->write(text);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

void show(api::AttachClient& client, Terminal* term) {
    std::string out;
    while (auto l = client.poll_line()) out.append(*l).push_back('\n');
    if (out.empty()) return;
    out.pop_back();
    say(term, std::move(out));
}

// Tab: the macros (the node's user names are the node's to know).
std::vector<std::string> complete_macro(std::string_view line) {
    std::vector<std::string> out;
    const std::size_t start = line.find_first_not_of(' ');
    if (start == std::string_view::npos || line[start] != '\\' || line.find(' ', start) != std::string_view::npos)
        return out;
    const std::string_view typed = line.substr(start);
    for (std::string_view m : cli::macro_names())
        if (m.substr(0, typed.size()) == typed) out.emplace_back(m);
    return out;
}

}  // namespace

int attach(const std::string& socket_path, const std::string& which, const std::string& history_path) {
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
    auto term = Terminal::open(history_path, complete_macro);
    say(term.get(), "* attached to the running node " + which + ": lines go to it; \\quit leaves it running");
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
                say(term.get(), "! the node " + which + " stopped");
                status = 1;
                break;
            }
            client.handle_bytes(std::string_view(buf, static_cast<std::size_t>(got)));
            show(client, term.get());
        }
        if (input_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (term) {
                auto in = term->read();
                if (in && in->eof) {
                    input_open = false;
                    leave_by = Clock::now() + std::chrono::seconds(3);
                    continue;
                }
                if (in) typed.append(in->line).push_back('\n');
                if (auto problem = term->take_history_problem(); !problem.empty()) say(term.get(), problem);
            } else {
                char buf[4096];
                auto got = ::read(0, buf, sizeof buf);
                if (got < 0 && errno == EINTR) continue;
                if (got <= 0) {
                    input_open = false;
                    leave_by = Clock::now() + std::chrono::seconds(3);
                    continue;
                }
                typed.append(buf, static_cast<std::size_t>(got));
            }
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
                    say(term.get(), "! the node " + which + " stopped");
                    ::close(fd);
                    return 1;
                }
            }
            if (quit) {
                say(term.get(), "* detached; the node " + which + " goes on");
                break;
            }
        }
    }
    std::fflush(stdout);
    ::close(fd);
    return status;
}

}  // namespace dc::io
