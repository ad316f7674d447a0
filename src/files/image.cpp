// Images recognised by their first bytes (PNG, JPEG, GIF, WebP) and the size their header
// states. The input is whatever a peer sent: every read is bounds-checked and a header
// that does not hold together is no image.

#include "darkchat/files.hpp"

#include <cstring>

namespace dc::files {

namespace {

std::uint32_t be16(ByteView b, std::size_t i) { return std::uint32_t{b[i]} << 8 | b[i + 1]; }
std::uint32_t be32(ByteView b, std::size_t i) { return be16(b, i) << 16 | be16(b, i + 2); }
std::uint32_t le16(ByteView b, std::size_t i) { return std::uint32_t{b[i + 1]} << 8 | b[i]; }
std::uint32_t le24(ByteView b, std::size_t i) { return le16(b, i) | std::uint32_t{b[i + 2]} << 16; }
bool at(ByteView b, std::size_t i, std::string_view s) {
    return b.size() >= i + s.size() && std::memcmp(b.data() + i, s.data(), s.size()) == 0;
}

std::optional<Image> sized(const char* type, std::uint32_t w, std::uint32_t h) {
    if (w == 0 || h == 0) return std::nullopt;
    return Image{type, w, h};
}

std::optional<Image> png(ByteView b) {
    // signature, then the first chunk: IHDR of 13 bytes, width and height big endian
    if (!at(b, 0, "\x89PNG\r\n\x1a\n") || b.size() < 24 || be32(b, 8) != 13 || !at(b, 12, "IHDR"))
        return std::nullopt;
    const std::uint32_t w = be32(b, 16), h = be32(b, 20);
    if (w > 0x7fffffff || h > 0x7fffffff) return std::nullopt;
    return sized("png", w, h);
}

std::optional<Image> gif(ByteView b) {
    if ((!at(b, 0, "GIF87a") && !at(b, 0, "GIF89a")) || b.size() < 10) return std::nullopt;
    return sized("gif", le16(b, 6), le16(b, 8));
}

std::optional<Image> webp(ByteView b) {
    if (!at(b, 0, "RIFF") || !at(b, 8, "WEBP")) return std::nullopt;
    if (at(b, 12, "VP8X") && b.size() >= 30)  // extended: canvas size minus one, 24 bits each
        return sized("webp", le24(b, 24) + 1, le24(b, 27) + 1);
    if (at(b, 12, "VP8L") && b.size() >= 25 && b[20] == 0x2f) {  // lossless: 14 bits each, minus one
        const std::uint32_t bits = le16(b, 21) | std::uint32_t{le16(b, 23)} << 16;
        return sized("webp", (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
    }
    if (at(b, 12, "VP8 ") && b.size() >= 30 && (b[20] & 1) == 0 && b[23] == 0x9d && b[24] == 0x01 &&
        b[25] == 0x2a)  // lossy key frame: start code, then 14 bits each
        return sized("webp", le16(b, 26) & 0x3fff, le16(b, 28) & 0x3fff);
    return std::nullopt;
}

std::optional<Image> jpeg(ByteView b) {
    if (b.size() < 4 || b[0] != 0xff || b[1] != 0xd8) return std::nullopt;
    std::size_t i = 2;
    while (i + 1 < b.size()) {
        if (b[i] != 0xff) return std::nullopt;
        while (i < b.size() && b[i] == 0xff) ++i;  // fill bytes
        if (i >= b.size()) return std::nullopt;
        const std::uint8_t marker = b[i++];
        if (marker == 0xd9 || marker == 0xda) return std::nullopt;  // end of image, or scan data before a frame
        if ((marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) continue;  // no length
        if (i + 2 > b.size()) return std::nullopt;
        const std::uint32_t len = be16(b, i);
        if (len < 2) return std::nullopt;
        const bool frame = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
        if (frame) {
            // length, precision, height, width
            if (len < 7 || i + 7 > b.size()) return std::nullopt;
            return sized("jpeg", be16(b, i + 5), be16(b, i + 3));
        }
        i += len;
    }
    return std::nullopt;
}

}  // namespace

std::optional<Image> sniff_image(ByteView head) {
    if (auto i = png(head)) return i;
    if (auto i = jpeg(head)) return i;
    if (auto i = gif(head)) return i;
    return webp(head);
}

std::string image_label(const Image& image) {
    return "[image " + std::to_string(image.width) + "x" + std::to_string(image.height) + " " + image.type + "]";
}

std::string media_type_of(ByteView head) {
    if (auto i = sniff_image(head)) return "image/" + i->type;
    return "application/octet-stream";
}

}  // namespace dc::files
