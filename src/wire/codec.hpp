// Internal to src/wire: the msgpack building blocks under schema.hpp and the packet
// code (encoding helpers, the allocation-free shape check, guarded decoding and typed
// field readers). See the comment at the top of wire.cpp
// for how a decode runs. Only src/wire includes this (and msgpack).
#pragma once

#include "darkchat/wire.hpp"

#include <msgpack.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

namespace dc::wire::codec {

// The deepest legal nesting is a deliverKnownList: map > sessions array > session array >
// addr array. 8 leaves room for fields a newer peer may add (and we skip).
inline constexpr std::size_t kMaxDepth = 8;

// Coarse per-element limits for msgpack-c; the readers apply the exact ones.
inline const msgpack::unpack_limit kLimit(/*array=*/kMaxListEntries + 16, /*map=*/64, /*str=*/kMaxText + 64,
                                   /*bin=*/kMaxFrame, /*ext=*/0, /*depth=*/kMaxDepth);

template <typename... Parts>
std::string cat(const Parts&... parts) {
    std::string s;
    (s.append(std::string_view(parts)), ...);
    return s;
}

// ---------------------------------------------------------------------------
// Encoding

// A msgpack-c output stream appending to a Bytes.
class ByteSink {
public:
    explicit ByteSink(Bytes& out) : out_(out) {}
    void write(const char* p, std::size_t n) {
        const auto* b = reinterpret_cast<const std::uint8_t*>(p);
        out_.insert(out_.end(), b, b + n);
    }

private:
    Bytes& out_;
};

using Packer = msgpack::packer<ByteSink>;

template <typename F>
inline Bytes pack(F&& write_value) {
    Bytes out;
    ByteSink sink(out);
    Packer pk(sink);
    write_value(pk);
    return out;
}

inline void put_bin(Packer& pk, ByteView b) {
    const auto n = static_cast<std::uint32_t>(b.size());
    pk.pack_bin(n);
    pk.pack_bin_body(reinterpret_cast<const char*>(b.data()), n);
}

inline void put_str(Packer& pk, std::string_view s) {
    const auto n = static_cast<std::uint32_t>(s.size());
    pk.pack_str(n);
    pk.pack_str_body(s.data(), n);
}

inline void put_key(Packer& pk, std::uint8_t key) { pk.pack_uint8(key); }

// [family, ip, port]; ip holds only the bytes the family uses (none for family 0).
inline void put_addr(Packer& pk, const Addr& a) {
    const std::size_t ip_len = a.family == 4 ? 4 : a.family == 6 ? 16 : 0;
    pk.pack_array(3);
    pk.pack_uint8(a.family);
    put_bin(pk, ByteView(a.ip).first(ip_len));
    pk.pack_uint16(a.port);
}

// [body, sig]
inline void put_blob(Packer& pk, const SignedBlob& b) {
    pk.pack_array(2);
    put_bin(pk, b.body);
    put_bin(pk, b.sig);
}

// ---------------------------------------------------------------------------
// Decoding

struct DecodeError {
    std::string message;
};

[[noreturn]] inline void fail(std::string message) { throw DecodeError{std::move(message)}; }

// Walks one msgpack value in b without allocating (step 1 in the file comment).
inline void check_shape(ByteView b, std::string_view ctx) {
    const std::size_t n = b.size();
    std::size_t pos = 0;
    std::array<std::uint64_t, kMaxDepth + 1> pending{};  // values still to read per open container
    std::size_t level = 0;
    pending[0] = 1;  // the top-level value

    auto truncated = [&] { fail(cat("truncated ", ctx)); };
    auto take = [&](std::size_t bytes) {  // a big-endian length field
        if (n - pos < bytes) truncated();
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < bytes; ++i) v = v << 8 | b[pos++];
        return v;
    };

    for (;;) {
        while (pending[level] == 0) {
            if (level == 0) {
                if (pos != n) fail(cat("trailing bytes after ", ctx));
                return;
            }
            --level;
        }
        --pending[level];
        if (pos == n) truncated();
        const std::uint8_t tag = b[pos++];

        std::uint64_t skip = 0;      // payload bytes after the header
        bool container = false;
        std::uint64_t children = 0;  // values inside the container (2 per map entry)
        if (tag <= 0x7f || tag >= 0xe0) {
            // positive or negative fixint
        } else if (tag <= 0x8f) {
            container = true;
            children = 2 * std::uint64_t{tag & 0x0fu};
        } else if (tag <= 0x9f) {
            container = true;
            children = tag & 0x0fu;
        } else if (tag <= 0xbf) {
            skip = tag & 0x1fu;  // fixstr
        } else {
            switch (tag) {
            case 0xc0: case 0xc2: case 0xc3: break;  // nil, false, true
            case 0xc4: case 0xd9: skip = take(1); break;  // bin 8, str 8
            case 0xc5: case 0xda: skip = take(2); break;
            case 0xc6: case 0xdb: skip = take(4); break;
            case 0xcc: case 0xd0: skip = 1; break;  // uint 8, int 8
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xca: case 0xce: case 0xd2: skip = 4; break;  // float 32, uint 32, int 32
            case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
            case 0xdc: container = true; children = take(2); break;  // array 16
            case 0xdd: container = true; children = take(4); break;
            case 0xde: container = true; children = 2 * take(2); break;  // map 16
            case 0xdf: container = true; children = 2 * take(4); break;
            case 0xc7: case 0xc8: case 0xc9:
            case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
                fail(cat(ctx, ": ext values not allowed"));
            default:  // 0xc1 is never used
                fail(cat("malformed ", ctx));
            }
        }
        if (skip > n - pos) truncated();
        pos += static_cast<std::size_t>(skip);
        if (container) {
            if (level == kMaxDepth) fail(cat(ctx, ": nested too deeply"));
            // Each value takes at least one byte: stop early on a claim the input cannot hold.
            if (children > n - pos) truncated();
            if (children > 0) pending[++level] = children;
        }
    }
}

// Strings and bins point into the input (which outlives every object tree here).
inline bool reference_input(msgpack::type::object_type, std::size_t, void*) { return true; }

inline msgpack::object_handle parse(ByteView b, std::string_view ctx) {
    check_shape(b, ctx);
    std::size_t off = 0;
    bool referenced = false;
    auto oh = msgpack::unpack(reinterpret_cast<const char*>(b.data()), b.size(), off, referenced,
                              reference_input, nullptr, kLimit);
    if (!oh.zone() || off != b.size()) fail(cat("malformed ", ctx));
    return oh;
}

// Runs a reader and turns every way it can fail into an error value.
template <typename F>
inline auto guarded(std::string_view ctx, F&& read) -> Result<std::invoke_result_t<F&>> {
    try {
        return read();
    } catch (const DecodeError& e) {
        return err(e.message);
    } catch (const msgpack::insufficient_bytes&) {
        return err(cat("truncated ", ctx));
    } catch (const msgpack::size_overflow&) {
        return err(cat(ctx, ": value over size limit"));
    } catch (const msgpack::unpack_error&) {
        return err(cat("malformed ", ctx));
    } catch (const msgpack::type_error&) {
        return err(cat(ctx, ": wrong type"));
    } catch (const std::bad_alloc&) {
        return err(cat(ctx, ": out of memory"));
    } catch (const std::exception& e) {
        return err(cat(ctx, ": ", e.what()));
    } catch (...) {
        return err(cat(ctx, ": decode failed"));
    }
}

// Where a value sits, for error messages: "<ctx>: bad <name><part> size". part names a
// piece of a compound value (" family" of an address) without building a string unless
// an error message needs one.
struct Field {
    std::string_view ctx;
    std::string_view name;
    std::string_view part = {};
};

[[noreturn]] inline void wrong_type(const Field& f) { fail(cat(f.ctx, ": ", f.name, f.part, " has wrong type")); }

inline std::uint64_t read_uint(const msgpack::object& o, const Field& f,
                        std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
    if (o.type != msgpack::type::POSITIVE_INTEGER) wrong_type(f);
    if (o.via.u64 > max) fail(cat(f.ctx, ": ", f.name, f.part, " out of range"));
    return o.via.u64;
}

template <typename T>
inline T read_uint_as(const msgpack::object& o, const Field& f) {
    return static_cast<T>(read_uint(o, f, std::numeric_limits<T>::max()));
}

inline TimeMs read_time(const msgpack::object& o, const Field& f) {
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    return static_cast<TimeMs>(read_uint(o, f, std::numeric_limits<TimeMs>::max()));
}

inline bool read_bool(const msgpack::object& o, const Field& f) {
    if (o.type != msgpack::type::BOOLEAN) wrong_type(f);
    return o.via.boolean;
}

inline std::string read_str(const msgpack::object& o, const Field& f, std::size_t max) {
    if (o.type != msgpack::type::STR) wrong_type(f);
    if (o.via.str.size > max) fail(cat(f.ctx, ": ", f.name, f.part, " too long"));
    return std::string(o.via.str.ptr, o.via.str.size);
}

inline std::string read_user(const msgpack::object& o, const Field& f, bool empty_ok = false) {
    if (o.type != msgpack::type::STR) wrong_type(f);
    std::string_view s(o.via.str.ptr, o.via.str.size);
    if (!valid_user_name(s) && !(empty_ok && s.empty())) fail(cat(f.ctx, ": invalid ", f.name, f.part));
    return std::string(s);
}

inline ByteView read_bin(const msgpack::object& o, const Field& f) {
    if (o.type != msgpack::type::BIN) wrong_type(f);
    return {reinterpret_cast<const std::uint8_t*>(o.via.bin.ptr), o.via.bin.size};
}

template <std::size_t N>
inline std::array<std::uint8_t, N> read_fixed(const msgpack::object& o, const Field& f) {
    const ByteView b = read_bin(o, f);
    if (b.size() != N) fail(cat(f.ctx, ": bad ", f.name, f.part, " size"));
    std::array<std::uint8_t, N> a{};
    std::copy(b.begin(), b.end(), a.begin());
    return a;
}

inline const msgpack::object_array& read_array(const msgpack::object& o, const Field& f) {
    if (o.type != msgpack::type::ARRAY) wrong_type(f);
    return o.via.array;
}

// A fixed-shape array ([family, ip, port], [body, sig]).
inline const msgpack::object* read_tuple(const msgpack::object& o, const Field& f, std::uint32_t size) {
    const auto& a = read_array(o, f);
    if (a.size != size) fail(cat(f.ctx, ": bad ", f.name, f.part));
    return a.ptr;
}

inline Addr read_addr(const msgpack::object& o, const Field& f) {
    const auto* e = read_tuple(o, f, 3);
    Addr a;
    const Field family{f.ctx, f.name, " family"};
    a.family = read_uint_as<std::uint8_t>(e[0], family);
    if (a.family != 0 && a.family != 4 && a.family != 6) fail(cat(f.ctx, ": bad ", f.name, family.part));
    const Field ip_field{f.ctx, f.name, " ip"};
    const ByteView ip = read_bin(e[1], ip_field);
    if (ip.size() != (a.family == 4 ? 4u : a.family == 6 ? 16u : 0u))
        fail(cat(f.ctx, ": bad ", f.name, ip_field.part, " size"));
    std::copy(ip.begin(), ip.end(), a.ip.begin());
    a.port = read_uint_as<std::uint16_t>(e[2], {f.ctx, f.name, " port"});
    return a;
}

inline SignedBlob read_blob(const msgpack::object& o, const Field& f) {
    const auto* e = read_tuple(o, f, 2);
    SignedBlob b;
    const ByteView body = read_bin(e[0], {f.ctx, f.name, " body"});
    b.body.assign(body.begin(), body.end());
    b.sig = read_fixed<64>(e[1], {f.ctx, f.name, " signature"});
    return b;
}

// A list of user names, e.g. a declaration's links.
inline std::vector<std::string> read_users(const msgpack::object& o, const Field& f, std::string_view item,
                                    std::size_t max) {
    const auto& a = read_array(o, f);
    if (a.size > max) fail(cat(f.ctx, ": too many ", f.name, f.part));
    std::vector<std::string> v;
    for (std::uint32_t i = 0; i < a.size; ++i) v.push_back(read_user(a.ptr[i], {f.ctx, item}));
    return v;
}

}  // namespace dc::wire::codec
