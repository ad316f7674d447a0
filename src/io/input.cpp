// Standard input on a helper thread: see input.hpp.
#include "input.hpp"

#include <unistd.h>

#include <cerrno>

namespace dc::io {

void InputQueue::push(InputLine line) {
    std::unique_lock lock(mu);
    room.wait(lock, [&] { return lines.size() < kMaxQueuedLines || !wake; });
    lines.push_back(std::move(line));
    if (wake) uv_async_send(wake);
}

void InputQueue::end() {
    std::lock_guard lock(mu);
    eof = true;
    if (wake) uv_async_send(wake);
}

void read_input(std::shared_ptr<InputQueue> q) {
    std::string pending;
    std::size_t skipped = 0;  // bytes of an overlong line thrown away so far
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            if (skipped > 0) q->push({{}, skipped + nl});
            else q->push({pending.substr(0, nl)});
            skipped = 0;
            pending.erase(0, nl + 1);
        }
        if (pending.size() > cli::kMaxInputLine) {
            skipped += pending.size();
            pending.clear();
        }
    }
    if (skipped > 0) q->push({{}, skipped + pending.size()});
    else if (!pending.empty()) q->push({pending});
    q->end();
}

}  // namespace dc::io
