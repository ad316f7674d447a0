// Line editing with libedit rather than code of our own: key bindings, the
// terminal's capabilities (terminfo), wide characters and history are a
// library's job, and libedit (BSD licence) is on every Debian system.
//
// libedit runs unbuffered (EL_UNBUFFERED): each read() handles the one key
// waiting and returns, so the loop thread never blocks on the terminal and
// lines from the network can be shown between two keys.
#include "terminal.hpp"

#include <histedit.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstring>
#include <utility>

namespace dc::io {

namespace {

constexpr const char* kPrompt = "> ";

// Columns a UTF-8 string takes, counting one for each character (wide
// characters are rare in what is typed here; the count only places the cursor
// for clearing the edited line).
std::size_t columns(const char* from, const char* to) {
    std::size_t n = 0;
    for (const char* p = from; p < to; ++p)
        if ((static_cast<unsigned char>(*p) & 0xc0) != 0x80) ++n;
    return n;
}

}  // namespace

struct Terminal::State {
    EditLine* el = nullptr;
    History* hist = nullptr;
    HistEvent ev{};
    std::string history_path;
    Completer complete;
    bool history_failing = false;
    std::string history_problem;
    std::vector<std::string> status;  // on screen above the edited line, one row each

    ~State() {
        if (el) {
            std::string clear = clear_sequence();  // the prompt and the line being typed go
            std::fwrite(clear.data(), 1, clear.size(), stdout);
            std::fflush(stdout);
            el_end(el);
        }  // leaves the terminal's modes as they were
        if (hist) history_end(hist);
    }

    static char* prompt(EditLine*) { return const_cast<char*>(kPrompt); }

    // The edited line, cleared from the screen: the cursor goes to the
    // start of its first row.
    std::string clear_sequence() {
        const LineInfo* li = el_line(el);
        int cols = 0;
        if (el_get(el, EL_GETTC, "co", &cols, nullptr) != 0 || cols <= 0) cols = 80;
        std::size_t row = (std::strlen(kPrompt) + columns(li->buffer, li->cursor)) / static_cast<std::size_t>(cols);
        row += status.size();
        std::string s = "\r";
        if (row > 0) s += "\033[" + std::to_string(row) + "A";
        s += "\033[J";
        return s;
    }

    int width() {
        int cols = 0;
        if (el_get(el, EL_GETTC, "co", &cols, nullptr) != 0 || cols <= 0) cols = 80;
        return cols;
    }

    // The status lines, each cut short of the last column so that it takes one row.
    std::string status_text() {
        const std::size_t fit = static_cast<std::size_t>(std::max(1, width() - 1));
        std::string s;
        for (const auto& l : status) {
            std::size_t n = 0, bytes = 0;
            while (bytes < l.size() && n < fit) {  // whole UTF-8 characters
                std::size_t k = 1;
                while (bytes + k < l.size() && (static_cast<unsigned char>(l[bytes + k]) & 0xC0) == 0x80) ++k;
                bytes += k;
                ++n;
            }
            s.append(l, 0, bytes).append("\n");
        }
        return s;
    }

    void set_status(std::vector<std::string> lines) {
        std::string out = clear_sequence();
        status = std::move(lines);
        out += status_text();
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fflush(stdout);
        el_set(el, EL_REFRESH);
    }

    void write(std::string_view text) {
        std::string out = clear_sequence();
        out.append(text);
        out += status_text();
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fflush(stdout);
        el_set(el, EL_REFRESH);
    }

    // Tab: the longest common start of what may follow the word before the
    // cursor; a space after a word complete alone; several choices listed
    // above the line when there is nothing to add.
    unsigned char on_tab() {
        const LineInfo* li = el_line(el);
        std::string before(li->buffer, static_cast<std::size_t>(li->cursor - li->buffer));
        std::size_t start = before.find_last_of(' ');
        start = start == std::string::npos ? 0 : start + 1;
        std::string typed = before.substr(start);
        auto found = complete ? complete(before) : std::vector<std::string>{};
        if (found.empty()) return CC_ERROR;
        std::string common = found.front();
        for (const auto& w : found) {
            std::size_t k = 0;
            while (k < common.size() && k < w.size() && common[k] == w[k]) ++k;
            common.resize(k);
        }
        if (common.size() < typed.size()) return CC_ERROR;
        std::string add = common.substr(typed.size());
        if (found.size() == 1) add += ' ';
        if (!add.empty()) {
            if (el_insertstr(el, add.c_str()) != 0) return CC_ERROR;
            return CC_REFRESH;
        }
        std::string list;
        for (const auto& w : found) list += (list.empty() ? "" : "  ") + w;
        write(list + "\n");
        return CC_NORM;
    }

    static unsigned char tab(EditLine* e, int) {
        State* s = nullptr;
        el_get(e, EL_CLIENTDATA, &s);
        return s ? s->on_tab() : CC_ERROR;
    }

    // The history file, written whole to a new file that then takes its
    // place: a crash leaves the old one or the new one.
    void save_history() {
        if (history_path.empty()) return;
        std::string tmp = history_path + ".new";
        std::string why;
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            why = std::strerror(errno);
        } else {
            ::fchmod(fd, 0600);
            FILE* f = ::fdopen(fd, "w");
            if (!f) {
                why = std::strerror(errno);
                ::close(fd);
            } else {
                bool ok = history(hist, &ev, H_SAVE_FP, f) >= 0;
                ok = std::fflush(f) == 0 && ok;
                if (!ok) why = errno ? std::strerror(errno) : "write failed";
                if (std::fclose(f) != 0 && why.empty()) why = std::strerror(errno);
                if (why.empty() && std::rename(tmp.c_str(), history_path.c_str()) != 0) why = std::strerror(errno);
            }
            if (!why.empty()) ::unlink(tmp.c_str());
        }
        if (why.empty()) {
            history_failing = false;
        } else if (!history_failing) {
            history_failing = true;
            history_problem = "! typed lines are not kept: could not write " + history_path + " (" + why + ")";
        }
    }
};

Terminal::Terminal(std::unique_ptr<State> s) : s_(std::move(s)) {}
Terminal::~Terminal() = default;

std::unique_ptr<Terminal> Terminal::open(const std::string& history_path, Completer complete) {
    if (!::isatty(0) || !::isatty(1)) return nullptr;
    std::setlocale(LC_CTYPE, "");  // the terminal's character set, for editing multibyte characters
    auto s = std::make_unique<State>();
    s->history_path = history_path;
    s->complete = std::move(complete);
    s->hist = history_init();
    s->el = el_init("darkchat", stdin, stdout, stderr);
    if (!s->hist || !s->el) return nullptr;
    history(s->hist, &s->ev, H_SETSIZE, static_cast<int>(kHistoryLines));
    history(s->hist, &s->ev, H_SETUNIQUE, 1);
    if (!history_path.empty()) history(s->hist, &s->ev, H_LOAD, history_path.c_str());  // none yet: fine
    el_set(s->el, EL_CLIENTDATA, s.get());
    el_set(s->el, EL_EDITOR, "emacs");
    el_set(s->el, EL_HIST, history, s->hist);
    el_set(s->el, EL_PROMPT, &State::prompt);
    // The wide call: the narrow one copies the name and help and never frees them.
    el_wset(s->el, EL_ADDFN, L"darkchat-complete", L"complete a macro or user name", &State::tab);
    el_set(s->el, EL_BIND, "^I", "darkchat-complete", nullptr);
    el_source(s->el, nullptr);  // the user's ~/.editrc, if any
    el_set(s->el, EL_UNBUFFERED, 1);  // shows the prompt
    return std::unique_ptr<Terminal>(new Terminal(std::move(s)));
}

std::optional<Terminal::Input> Terminal::read() {
    int n = 0;
    const char* got = el_gets(s_->el, &n);
    if (!got) {
        // An empty line after a key (^U, say) also comes back as nothing: the
        // terminal is gone only when it says so.
        pollfd p{0, POLLIN, 0};
        if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) return Input{{}, true};
        return std::nullopt;
    }
    std::string_view line(got, static_cast<std::size_t>(n));
    const bool eof = line == "\x04";  // ^D on an empty line
    if (!eof && (line.empty() || line.back() != '\n')) return std::nullopt;  // still being typed
    Input in{eof ? std::string() : std::string(line.substr(0, line.size() - 1)), eof};
    // A fresh line for the next: libedit resets its buffer and shows the prompt.
    el_set(s_->el, EL_UNBUFFERED, 0);
    el_set(s_->el, EL_UNBUFFERED, 1);
    if (eof) return in;
    if (in.line.find_first_not_of(' ') != std::string::npos) {
        history(s_->hist, &s_->ev, H_ENTER, in.line.c_str());
        s_->save_history();
    }
    return in;
}

void Terminal::write(std::string_view text) { s_->write(text); }

void Terminal::set_status(std::vector<std::string> lines) { s_->set_status(std::move(lines)); }

void Terminal::resized() {
    el_resize(s_->el);
    el_set(s_->el, EL_REFRESH);
}

std::string Terminal::take_history_problem() { return std::exchange(s_->history_problem, {}); }

}  // namespace dc::io
