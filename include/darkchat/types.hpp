// Plain value types shared by every layer of darkchat: byte strings, addresses,
// identifiers, time and a small result type. No dependency beyond the standard library.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace dc {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Milliseconds. Production passes wall-clock time since the Unix epoch; the
// simulator passes virtual time. The core never reads a clock itself.
using TimeMs = std::int64_t;

using PublicKey = std::array<std::uint8_t, 32>;
using SecretKey = std::array<std::uint8_t, 64>;  // libsodium Ed25519 secret key (seed || public key)
using Signature = std::array<std::uint8_t, 64>;
using SessionId = std::array<std::uint8_t, 8>;   // one per device (data directory), made on first run
using MessageId = std::array<std::uint8_t, 16>;  // random, chosen by the author of a chat message
using KxPublicKey = std::array<std::uint8_t, 32>;  // X25519, a session's short-lived key for sealing to it
using KxSecretKey = std::array<std::uint8_t, 32>;

// An IPv4 or IPv6 transport address. IPv4 is stored in the first four bytes of ip.
struct Addr {
    std::uint8_t family = 0;  // 0 = none, 4 = IPv4, 6 = IPv6
    std::array<std::uint8_t, 16> ip{};
    std::uint16_t port = 0;

    static Addr v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port);
    // Parses "1.2.3.4", "1.2.3.4:5", "::1", "[::1]:5". A missing port gives default_port.
    static std::optional<Addr> parse(std::string_view text, std::uint16_t default_port = 0);

    bool valid() const { return family == 4 || family == 6; }
    bool unspecified_ip() const;  // 0.0.0.0 or ::
    std::string ip_string() const;
    std::string to_string() const;  // "1.2.3.4:5" or "[::1]:5"

    auto operator<=>(const Addr&) const = default;
};

template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& a) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(2 * N);
    for (auto b : a) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 15]);
    }
    return s;
}
std::string to_hex(ByteView b);
std::optional<Bytes> from_hex(std::string_view s);

// A value or an error message. Library code returns these; main() reports them.
struct Error {
    std::string message;
};

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error e) : v_(std::move(e)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }
    const T& operator*() const& { return std::get<0>(v_); }
    const std::string& error() const { return std::get<1>(v_).message; }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error e) : err_(std::move(e)) {}
    bool ok() const { return !err_; }
    explicit operator bool() const { return ok(); }
    const std::string& error() const { return err_->message; }

private:
    std::optional<Error> err_;
};

inline Error err(std::string message) { return Error{std::move(message)}; }

// A user name: 1 to 32 bytes of letters, digits, '_', '-', '.'.
bool valid_user_name(std::string_view name);

}  // namespace dc
