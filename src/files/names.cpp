// Safe names in the download folder for names that come from peers. Nothing here touches
// the file system: whether a name is taken is the caller's predicate.

#include "darkchat/files.hpp"

#include <array>
#include <cctype>

namespace dc::files {

namespace {

// The length of the UTF-8 character at s[i] and its code point; 0 when it is not valid
// (a stray continuation byte, a truncated or overlong sequence, a surrogate).
std::size_t utf8_char(std::string_view s, std::size_t i, char32_t& cp) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (b < 0x80) { cp = b; return 1; }
    if ((b & 0xe0) == 0xc0) { n = 2; cp = b & 0x1f; }
    else if ((b & 0xf0) == 0xe0) { n = 3; cp = b & 0x0f; }
    else if ((b & 0xf8) == 0xf0) { n = 4; cp = b & 0x07; }
    else return 0;
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        const auto c = static_cast<unsigned char>(s[i + k]);
        if ((c & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (c & 0x3f);
    }
    static constexpr std::array<char32_t, 5> kMin{0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

// Characters that vanish from a name: controls (C0, DEL, C1) and bidirectional marks,
// overrides and isolates (they make "gpj.exe" read as "exe.jpg").
bool invisible(char32_t cp) {
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return true;
    return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f;
}

// Characters Windows reserves in names: they become '_'.
bool reserved(char32_t cp) {
    switch (cp) {
        case '<': case '>': case ':': case '"': case '|': case '?': case '*':
            return true;
        default:
            return false;
    }
}

bool device_name(std::string_view stem) {
    std::string up;
    for (char c : stem) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    while (!up.empty() && (up.back() == ' ' || up.back() == '.')) up.pop_back();
    if (up == "CON" || up == "PRN" || up == "AUX" || up == "NUL" || up == "CONIN$" || up == "CONOUT$") return true;
    return up.size() == 4 && (up.starts_with("COM") || up.starts_with("LPT")) && up[3] >= '0' && up[3] <= '9';
}

// The longest prefix of s of at most max bytes that ends on a character boundary (s is
// valid UTF-8 here).
std::string_view cut(std::string_view s, std::size_t max) {
    if (s.size() <= max) return s;
    std::size_t end = max;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) --end;
    return s.substr(0, end);
}

struct Parts {
    std::string stem;
    std::string ext;  // with its dot, or empty
};

Parts split(const std::string& name) {
    const auto dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0 || name.size() - dot > 16) return {name, {}};
    return {name.substr(0, dot), name.substr(dot)};
}

std::string clean(std::string_view offered) {
    // The last path component, whichever separator the sender's system uses.
    const auto slash = offered.find_last_of("/\\");
    if (slash != std::string_view::npos) offered.remove_prefix(slash + 1);

    std::string out;
    for (std::size_t i = 0; i < offered.size();) {
        char32_t cp = 0;
        const std::size_t n = utf8_char(offered, i, cp);
        if (n == 0) {
            out += '_';
            ++i;
            continue;
        }
        if (reserved(cp)) out += '_';
        else if (!invisible(cp)) out.append(offered.substr(i, n));
        i += n;
    }
    std::size_t lead = 0;
    while (lead < out.size() && (out[lead] == '.' || out[lead] == ' ')) ++lead;
    out.erase(0, lead);
    while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
    if (out.empty()) return "file";

    Parts p = split(out);
    if (device_name(p.stem.substr(0, p.stem.find('.')))) p.stem.insert(0, "_");
    const std::size_t room = kMaxSafeName - p.ext.size();
    p.stem = std::string(cut(p.stem, room));
    while (!p.stem.empty() && (p.stem.back() == '.' || p.stem.back() == ' ')) p.stem.pop_back();
    if (p.stem.empty()) p.stem = "file";
    return p.stem + p.ext;
}

}  // namespace

Result<std::string> safe_file_name(std::string_view offered, const std::function<bool(const std::string&)>& exists) {
    const std::string name = clean(offered);
    if (!exists(name)) return name;
    const Parts p = split(name);
    for (int n = 1; n < kMaxNameTries; ++n) {
        const std::string suffix = " (" + std::to_string(n) + ")";
        std::string candidate = std::string(cut(p.stem, kMaxSafeName - p.ext.size() - suffix.size())) + suffix + p.ext;
        if (!exists(candidate)) return candidate;
    }
    return err("no free name for '" + name + "' in the download folder");
}

}  // namespace dc::files
