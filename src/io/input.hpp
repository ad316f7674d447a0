// Standard input read on a helper thread, a whole line at a time, for the
// driver's loop (src/io/loop.cpp) when it is a pipe or a file. On a terminal,
// lines are edited on the loop's own thread instead (terminal.hpp).
#pragma once

#include "darkchat/session.hpp"

#include <uv.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace dc::io {

// Lines read ahead of the loop at most: the reader waits (and stops reading
// standard input) while this many are queued.
inline constexpr std::size_t kMaxQueuedLines = 4096;

// A line longer than cli::kMaxInputLine is never handed on in pieces: it is
// skipped to its end and comes out as one refusal (overlong holds its length),
// so no part of it is sent or taken as a macro.
struct InputLine {
    std::string text;
    std::size_t overlong = 0;
};

struct InputQueue {
    std::mutex mu;
    std::condition_variable room;  // the loop took lines: the reader may go on
    std::deque<InputLine> lines;
    bool eof = false;
    uv_async_t* wake = nullptr;  // null once the loop has closed it

    // Waits while kMaxQueuedLines are queued and the loop still runs, so that
    // standard input is read only as fast as the loop takes lines.
    void push(InputLine line);
    void end();
};

// Reads file descriptor 0 to its end into q, then marks it ended (the thread's body).
void read_input(std::shared_ptr<InputQueue> q);

}  // namespace dc::io
