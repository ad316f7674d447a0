// Internal to src/wire: messages declared once. A payload is a msgpack map with small
// integer keys; its table lists, in key order, each field's key, name, member, the
// check its value must pass on decode (its limit) and whether it is required or only
// written when some member is set:
//
//   template <> struct Message<ChatAck> {
//       static constexpr std::string_view name = "chatAck";
//       static constexpr auto fields = std::tuple{
//           field(0, "id", &ChatAck::id, required),
//           field(1, "held", &ChatAck::held, if_set(&ChatAck::held)),
//           field(2, "want", &ChatAck::want, if_set(&ChatAck::want)),
//       };
//   };
//
// encode_message<T>() and decode_message<T>() derive everything from it: the map (its
// size counts the fields written, in key order), the field names of error messages, the
// required-fields check and which key is read into which member with which check. A
// sub-record (an element of a list, [family, ip, port] aside) is a fixed-shape array
// declared the same way in a Record<T> table of elem()s in array order.
//
// How each C++ type goes on the wire is fixed by put() and read() below, so a table
// cannot write a field in a form its decoder would not take back.
#pragma once

#include "codec.hpp"

#include <array>
#include <concepts>
#include <cstddef>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>

namespace dc::wire::schema {

using namespace codec;

// ---------------------------------------------------------------------------
// The checks a value passes on decode (the limit column)

struct Plain {};  // the type says it all: integers in range, bools, fixed-size keys, addresses, blobs
struct UserName {
    bool empty_ok = false;  // "" is also taken (it means "nobody in particular")
};
struct MaxBytes {  // a text or byte string of at most max bytes
    std::size_t max;
};
struct UserNames {  // a list of at most max user names; item names one in error messages
    std::string_view item;
    std::size_t max;
};
struct MaxItems {  // a list of at most max records or blobs
    std::size_t max;
};

inline constexpr UserName user{};
inline constexpr UserName user_or_empty{true};
constexpr MaxBytes max_bytes(std::size_t max) { return {max}; }
constexpr UserNames user_list(std::string_view item, std::size_t max) { return {item, max}; }
constexpr MaxItems max_items(std::size_t max) { return {max}; }

template <typename C>
concept Check = std::same_as<C, Plain> || std::same_as<C, UserName> || std::same_as<C, MaxBytes> ||
                std::same_as<C, UserNames> || std::same_as<C, MaxItems>;

// ---------------------------------------------------------------------------
// When a field is written (always, unless it names a member that must be set)

struct Always {};
template <typename S, typename U>
struct IfSet {
    U S::*member;  // written only when this member is not zero / false
};
template <typename S, typename U>
constexpr IfSet<S, U> if_set(U S::*member) {
    return {member};
}

struct Required {};
inline constexpr Required required;  // a decode fails without it ("<ctx>: missing <name>")

// ---------------------------------------------------------------------------
// Field descriptors

template <typename S, typename T, typename C = Plain, typename G = Always>
struct FieldSpec {
    int key;                // map key; for a record element, its index
    std::string_view name;  // for error messages; a record element may leave it empty (see Record)
    T S::*member;
    C check{};
    G gate{};
    bool is_required = false;
};

template <typename S, typename T, typename C, typename G>
constexpr auto with(FieldSpec<S, T, C, G> f, Required) {
    f.is_required = true;
    return f;
}
template <typename S, typename T, typename C, typename G, typename U>
constexpr auto with(FieldSpec<S, T, C, G> f, IfSet<S, U> gate) {
    return FieldSpec<S, T, C, IfSet<S, U>>{f.key, f.name, f.member, f.check, gate, f.is_required};
}
template <typename S, typename T, typename C, typename G, Check C2>
constexpr auto with(FieldSpec<S, T, C, G> f, C2 check) {
    return FieldSpec<S, T, C2, G>{f.key, f.name, f.member, check, f.gate, f.is_required};
}

template <typename F>
constexpr auto with_all(F f) {
    return f;
}
template <typename F, typename O, typename... Os>
constexpr auto with_all(F f, O o, Os... os) {
    return with_all(with(f, o), os...);
}

// A field of a payload map: field(key, name, &S::member, options...), options being a
// check, required and if_set(&S::other).
template <typename S, typename T, typename... Opts>
constexpr auto field(int key, std::string_view name, T S::*member, Opts... opts) {
    return with_all(FieldSpec<S, T>{key, name, member}, opts...);
}

// An element of a record, in array order. Without a name it is reported under the name
// of the field that holds the record.
template <typename S, typename T, typename... Opts>
constexpr auto elem(T S::*member, Opts... opts) {
    return with_all(FieldSpec<S, T>{-1, {}, member}, opts...);
}
template <typename S, typename T, typename... Opts>
constexpr auto elem(std::string_view name, T S::*member, Opts... opts) {
    return with_all(FieldSpec<S, T>{-1, name, member}, opts...);
}

// The tables: specialised once per message and per record type.
template <typename T>
struct Message;  // name (the error context), fields
template <typename T>
struct Record;  // name (may be empty: the holding field's), fields

template <typename T>
concept IsRecord = requires { Record<T>::fields; };

// ---------------------------------------------------------------------------
// Encoding by C++ type

template <typename T>
    requires IsRecord<T>
void put(Packer& pk, const T& r);
template <typename T>
void put(Packer& pk, const std::vector<T>& v);

inline void put(Packer& pk, const std::string& s) { put_str(pk, s); }
inline void put(Packer& pk, const Bytes& b) { put_bin(pk, b); }
template <std::size_t N>
void put(Packer& pk, const std::array<std::uint8_t, N>& a) {
    put_bin(pk, a);
}
inline void put(Packer& pk, bool b) { pk.pack(b); }
template <std::unsigned_integral U>
    requires(!std::same_as<U, bool>)
void put(Packer& pk, U v) {
    pk.pack_uint64(v);  // the shortest form, whatever the member's width
}
inline void put(Packer& pk, std::int64_t v) { pk.pack_int64(v); }
inline void put(Packer& pk, const Addr& a) { put_addr(pk, a); }
inline void put(Packer& pk, const SignedBlob& b) { put_blob(pk, b); }

template <typename T>
void put(Packer& pk, const std::vector<T>& v) {
    pk.pack_array(static_cast<std::uint32_t>(v.size()));
    for (const auto& x : v) put(pk, x);
}

template <typename T>
    requires IsRecord<T>
void put(Packer& pk, const T& r) {
    std::apply(
        [&](const auto&... e) {
            pk.pack_array(static_cast<std::uint32_t>(sizeof...(e)));
            (put(pk, r.*e.member), ...);
        },
        Record<T>::fields);
}

template <typename S>
constexpr bool written(const S&, Always) {
    return true;
}
template <typename S, typename U>
bool written(const S& s, IfSet<S, U> g) {
    return s.*g.member != U{};
}

// ---------------------------------------------------------------------------
// Decoding by C++ type and check

template <typename T>
    requires IsRecord<T>
T read(const msgpack::object& o, const Field& f, Plain);
template <typename T>
    requires(!std::same_as<T, std::string>)
std::vector<T> read_vector(const msgpack::object& o, const Field& f, MaxItems c);

template <typename T>
inline constexpr bool kIsVector = false;
template <typename T>
inline constexpr bool kIsVector<std::vector<T>> = true;

template <typename T, typename C>
T read_value(const msgpack::object& o, const Field& f, const C& c) {
    if constexpr (std::same_as<T, std::string>) {
        static_assert(std::same_as<C, UserName> || std::same_as<C, MaxBytes>, "a string needs user or max_bytes");
        if constexpr (std::same_as<C, UserName>) return read_user(o, f, c.empty_ok);
        else return read_str(o, f, c.max);
    } else if constexpr (std::same_as<T, Bytes>) {
        const ByteView b = read_bin(o, f);
        if constexpr (std::same_as<C, MaxBytes>) {
            if (b.size() > c.max) fail(cat(f.ctx, ": ", f.name, f.part, " too long"));
        } else {
            static_assert(std::same_as<C, Plain>, "bytes take max_bytes or nothing");
        }
        return Bytes(b.begin(), b.end());
    } else if constexpr (std::same_as<T, std::vector<std::string>>) {
        static_assert(std::same_as<C, UserNames>, "a list of strings is a user_list");
        return read_users(o, f, c.item, c.max);
    } else if constexpr (kIsVector<T>) {
        static_assert(std::same_as<C, MaxItems>, "a list needs max_items");
        return read_vector<typename T::value_type>(o, f, c);
    } else {
        static_assert(std::same_as<C, Plain>, "this type takes no check");
        if constexpr (std::same_as<T, bool>) return read_bool(o, f);
        else if constexpr (std::same_as<T, std::int64_t>) return read_time(o, f);
        else if constexpr (std::unsigned_integral<T>) return read_uint_as<T>(o, f);
        else if constexpr (std::same_as<T, Addr>) return read_addr(o, f);
        else if constexpr (std::same_as<T, SignedBlob>) return read_blob(o, f);
        else if constexpr (IsRecord<T>) return read<T>(o, f, c);
        else return read_fixed<std::tuple_size_v<T>>(o, f);
    }
}

// Room for the whole list is made up front only when the longest list allowed is small;
// a long one (deliverKnownList's sessions) grows only with entries that decoded, so a
// list that claims many entries costs memory only as far as its entries are valid.
inline constexpr std::size_t kMaxReserve = 64 * 1024;

template <typename T>
    requires(!std::same_as<T, std::string>)
std::vector<T> read_vector(const msgpack::object& o, const Field& f, MaxItems c) {
    const auto& a = read_array(o, f);
    if (a.size > c.max) fail(cat(f.ctx, ": too many ", f.name, f.part));
    std::vector<T> v;
    if (c.max * sizeof(T) <= kMaxReserve) v.reserve(a.size);
    for (std::uint32_t i = 0; i < a.size; ++i) v.push_back(read_value<T>(a.ptr[i], f, Plain{}));
    return v;
}

template <typename T>
    requires IsRecord<T>
T read(const msgpack::object& o, const Field& f, Plain) {
    constexpr std::string_view record_name = Record<T>::name;
    const Field rf = record_name.empty() ? f : Field{f.ctx, record_name};
    return std::apply(
        [&](const auto&... e) {
            const auto* t = read_tuple(o, rf, static_cast<std::uint32_t>(sizeof...(e)));
            T r{};
            std::size_t i = 0;
            ((r.*e.member = read_value<std::remove_cvref_t<decltype(r.*e.member)>>(
                  t[i++], e.name.empty() ? f : Field{f.ctx, e.name}, e.check)),
             ...);
            return r;
        },
        Record<T>::fields);
}

// ---------------------------------------------------------------------------
// Whole messages

template <typename Fields>
constexpr bool keys_in_order(const Fields& fields) {
    return std::apply(
        [](const auto&... f) {
            int i = 0;
            return ((f.key == i++) && ...);
        },
        fields);
}

template <typename T>
constexpr auto field_names() {
    return std::apply([](const auto&... f) { return std::array<std::string_view, sizeof...(f)>{f.name...}; },
                      Message<T>::fields);
}

template <typename T>
constexpr std::uint64_t required_keys() {
    return std::apply(
        [](const auto&... f) { return ((f.is_required ? std::uint64_t{1} << f.key : 0) | ... | std::uint64_t{0}); },
        Message<T>::fields);
}

template <typename T>
inline constexpr auto kFieldNames = field_names<T>();

// Keys are the fields' positions: a field is never renumbered or reused, and one that
// is no longer written keeps its entry.
template <typename T>
constexpr bool valid_table() {
    static_assert(keys_in_order(Message<T>::fields), "keys must be 0, 1, 2, ... in table order");
    static_assert(std::tuple_size_v<std::remove_cvref_t<decltype(Message<T>::fields)>> <= 64,
                  "the required-fields check holds 64 keys");
    return true;
}

// One reader per field, called through a table indexed by key: the map loop stays small
// enough to be inlined, and each reader is one check of one type.
template <typename T>
using FieldReader = void (*)(T&, const msgpack::object&, const Field&);

template <typename T, std::size_t I>
void read_field(T& out, const msgpack::object& v, const Field& f) {
    const auto& e = std::get<I>(Message<T>::fields);
    out.*e.member = read_value<std::remove_cvref_t<decltype(out.*e.member)>>(v, f, e.check);
}

template <typename T, std::size_t... I>
constexpr auto field_readers(std::index_sequence<I...>) {
    return std::array<FieldReader<T>, sizeof...(I)>{&read_field<T, I>...};
}

template <typename T>
inline constexpr auto kFieldReaders =
    field_readers<T>(std::make_index_sequence<std::tuple_size_v<std::remove_cvref_t<decltype(Message<T>::fields)>>>{});

// A payload map: key i is field i of the table. Keys must be unsigned integers; keys this
// version does not know are skipped, which is how fields are added without a version
// bump. Duplicate keys are rejected so that every reader of a signed body sees the same
// values.
template <typename T>
T read_message(const msgpack::object& o) {
    static_assert(valid_table<T>());
    constexpr std::string_view ctx = Message<T>::name;
    constexpr std::size_t known = kFieldNames<T>.size();
    if (o.type != msgpack::type::MAP) fail(cat(ctx, ": not a map"));
    const auto& m = o.via.map;  // at most kLimit.map() entries
    T out{};
    std::uint64_t present = 0;
    for (std::uint32_t i = 0; i < m.size; ++i) {
        const msgpack::object& k = m.ptr[i].key;
        if (k.type != msgpack::type::POSITIVE_INTEGER) fail(cat(ctx, ": map key has wrong type"));
        const std::uint64_t key = k.via.u64;
        for (std::uint32_t j = 0; j < i; ++j)
            if (m.ptr[j].key.via.u64 == key) fail(cat(ctx, ": duplicate key ", std::to_string(key)));
        if (key < known) {
            present |= std::uint64_t{1} << key;
            kFieldReaders<T>[static_cast<std::size_t>(key)](out, m.ptr[i].val, Field{ctx, kFieldNames<T>[key]});
        }
    }
    constexpr std::uint64_t required = required_keys<T>();
    if ((present & required) != required)
        for (std::size_t key = 0; key < known; ++key)
            if ((required >> key & 1) && !(present >> key & 1)) fail(cat(ctx, ": missing ", kFieldNames<T>[key]));
    return out;
}

template <typename T>
Bytes encode_message(const T& v) {
    static_assert(valid_table<T>());
    return pack([&](Packer& pk) {
        std::apply(
            [&](const auto&... e) {
                pk.pack_map(static_cast<std::uint32_t>((std::uint32_t{written(v, e.gate)} + ... + 0u)));
                ((written(v, e.gate) ? (put_key(pk, static_cast<std::uint8_t>(e.key)), put(pk, v.*e.member)) : void()),
                 ...);
            },
            Message<T>::fields);
    });
}

template <typename T>
Result<T> decode_message(ByteView b) {
    return guarded(Message<T>::name, [&] {
        const auto oh = parse(b, Message<T>::name);
        return read_message<T>(oh.get());
    });
}

// A family of messages sent as one byte naming the type (its index in the variant V)
// and then the type's map (group and file messages).
template <typename V>
Bytes encode_indexed(const V& m) {
    Bytes body = std::visit([](const auto& v) { return encode_message(v); }, m);
    body.insert(body.begin(), static_cast<std::uint8_t>(m.index()));
    return body;
}

template <typename V, std::size_t I = 0>
Result<V> decode_alternative(std::size_t type, ByteView body, std::string_view family) {
    if constexpr (I == std::variant_size_v<V>) {
        return err(cat(family, ": unknown type ", std::to_string(type)));
    } else {
        if (type != I) return decode_alternative<V, I + 1>(type, body, family);
        using T = std::variant_alternative_t<I, V>;
        auto r = decode_message<T>(body);
        if (!r) return err(r.error());
        return V{std::in_place_index<I>, std::move(r).value()};
    }
}

template <typename V>
Result<V> decode_indexed(ByteView b, std::string_view family) {
    if (b.empty()) return err(cat(family, ": empty"));
    if (b.size() > kMaxFrame) return err(cat(family, ": too long"));
    return decode_alternative<V>(b[0], b.subspan(1), family);
}

}  // namespace dc::wire::schema
