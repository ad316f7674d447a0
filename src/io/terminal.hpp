// Line editing on a terminal (libedit): the line being typed can be edited
// (arrows, ^A ^E ^W ^U ...), earlier lines come back with the up arrow and are
// kept across runs in a history file, Tab completes, and lines printed while
// the user types do not break into the line being edited. Used by the driver
// only when standard input and standard output are both terminals; a pipe or a
// file is read line by line as before. Everything runs on the loop thread: the
// driver calls read() when standard input is readable.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dc::io {

// The words that may complete the last word of line (the text before the
// cursor), in the order to list them; each is a whole word, of which the
// typed part is a prefix.
using Completer = std::function<std::vector<std::string>(std::string_view line)>;

class Terminal {
public:
    // Line editing on standard input and output, or null when either is not a
    // terminal. history_path: where typed lines are kept (mode 0600, the last
    // kHistoryLines); empty keeps them in memory only.
    static std::unique_ptr<Terminal> open(const std::string& history_path, Completer complete);
    ~Terminal();  // puts the terminal back as it was
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;

    static constexpr std::size_t kHistoryLines = 1000;

    struct Input {
        std::string line;         // a line typed whole (without its newline)
        bool eof = false;         // ^D on an empty line, or the terminal is gone
    };
    // Reads the key (or key sequence) waiting on standard input; an Input once
    // a line is complete, else nothing.
    std::optional<Input> read();

    // Writes output lines (each ending in '\n') above the line being edited,
    // which is shown again below them as it was.
    void write(std::string_view text);

    // Lines kept on screen just above the line being edited and rewritten in place at
    // every call (the progress of transfers); output lines go above them. Each is cut
    // to the terminal's width; none: the status is gone.
    void set_status(std::vector<std::string> lines);

    // The terminal changed size (SIGWINCH).
    void resized();

    // Why the history file could not be saved, once per failure spell; empty
    // when it was saved.
    std::string take_history_problem();

    struct State;

private:
    explicit Terminal(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
};

}  // namespace dc::io
