// Safe names for files from peers and images recognised by their headers
// (darkchat/files.hpp): hostile names, taken names, real minimal headers of PNG, JPEG,
// GIF and WebP, and every truncation and a few hostile variants of them.

#include <doctest/doctest.h>

#include "darkchat/files.hpp"

#include <set>

using namespace dc;
using namespace dc::files;

namespace {

std::string safe(std::string_view offered, const std::set<std::string>& taken = {}) {
    auto r = safe_file_name(offered, [&](const std::string& n) { return taken.contains(n); });
    REQUIRE(r);
    return *r;
}

// What every safe name must be, whatever came in.
void check_safe(const std::string& n) {
    CHECK(!n.empty());
    CHECK(n.size() <= kMaxSafeName);
    CHECK(n.find('/') == std::string::npos);
    CHECK(n.find('\\') == std::string::npos);
    CHECK(n != "." );
    CHECK(n != "..");
    CHECK(n.front() != '.');
    CHECK(n.back() != '.');
    CHECK(n.back() != ' ');
    for (unsigned char c : n) CHECK((c >= 0x20 && c != 0x7f));
}

}  // namespace

TEST_CASE("a name from a peer cannot leave the download folder") {
    CHECK(safe("../../etc/passwd") == "passwd");
    CHECK(safe("/etc/shadow") == "shadow");
    CHECK(safe("..\\..\\Windows\\System32\\evil.dll") == "evil.dll");
    CHECK(safe("C:\\Users\\x\\a.txt") == "a.txt");
    CHECK(safe("..") == "file");
    CHECK(safe(".") == "file");
    CHECK(safe("") == "file");
    CHECK(safe("dir/") == "file");
    CHECK(safe("/") == "file");
    CHECK(safe("...") == "file");
    for (const char* n : {"../../etc/passwd", "..", "/", "a/../..", "\\\\server\\share\\x", "....//....//x"})
        check_safe(safe(n));
}

TEST_CASE("control characters, direction overrides and reserved characters do not survive") {
    CHECK(safe(std::string("a\0b.txt", 7)) == "ab.txt");
    CHECK(safe("line\nbreak\r.txt") == "linebreak.txt");
    CHECK(safe("bell\x07\x1b[31m.txt") == "bell[31m.txt");
    CHECK(safe("del\x7f.txt") == "del.txt");
    // U+202E (right-to-left override) would show "invoice\u202Efdp.exe" as "invoiceexe.pdf".
    CHECK(safe("invoice\xe2\x80\xae" "fdp.exe") == "invoicefdp.exe");
    CHECK(safe("C1\xc2\x85.txt") == "C1.txt");  // U+0085, a C1 control
    CHECK(safe("what?<is>this*.txt") == "what__is_this_.txt");
    CHECK(safe("pipe|colon:quote\".txt") == "pipe_colon_quote_.txt");
    CHECK(safe("bad\xff\xfe utf8.txt") == "bad__ utf8.txt");
    CHECK(safe("over\xc0\xaflong.txt") == "over__long.txt");  // an overlong '/'
    CHECK(safe("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt") == "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt");
}

TEST_CASE("hidden names, trailing dots and spaces and device names are made plain") {
    CHECK(safe(".bashrc") == "bashrc");
    CHECK(safe("  .ssh") == "ssh");
    CHECK(safe("name. . ") == "name");
    CHECK(safe("CON") == "_CON");
    CHECK(safe("con.txt") == "_con.txt");
    CHECK(safe("nul.tar.gz") == "_nul.tar.gz");
    CHECK(safe("Lpt1") == "_Lpt1");
    CHECK(safe("COM9.log") == "_COM9.log");
    CHECK(safe("aux ") == "_aux");
    CHECK(safe("console.txt") == "console.txt");
    CHECK(safe("COM10") == "COM10");
}

TEST_CASE("a long name is cut on a character boundary and keeps its extension") {
    const std::string n = safe(std::string(1000, 'a') + ".jpeg");
    CHECK(n.size() == kMaxSafeName);
    CHECK(n.ends_with(".jpeg"));
    std::string wide;
    for (int i = 0; i < 300; ++i) wide += "\xe6\x97\xa5";  // three bytes each
    const std::string w = safe(wide);
    CHECK(w.size() <= kMaxSafeName);
    CHECK(w.size() % 3 == 0);
    check_safe(w);
}

TEST_CASE("a taken name gets a number instead of being overwritten") {
    CHECK(safe("photo.jpg", {"photo.jpg"}) == "photo (1).jpg");
    CHECK(safe("photo.jpg", {"photo.jpg", "photo (1).jpg", "photo (2).jpg"}) == "photo (3).jpg");
    CHECK(safe("README", {"README"}) == "README (1)");
    CHECK(safe("archive.tar.gz", {"archive.tar.gz"}) == "archive.tar (1).gz");
    const std::string longest = std::string(kMaxSafeName - 4, 'b') + ".txt";
    const std::string next = safe(longest, {longest});
    CHECK(next.size() <= kMaxSafeName);
    CHECK(next.ends_with(" (1).txt"));
    auto full = safe_file_name("x", [](const std::string&) { return true; });
    CHECK(!full);
}

TEST_CASE("images are recognised by real minimal headers with their sizes") {
    // A whole 1x1 PNG.
    const Bytes png{0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
                    0x00, 0x00, 0x02, 0x80, 0x00, 0x00, 0x01, 0xe0, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
                    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
                    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
                    0x42, 0x60, 0x82};
    CHECK(sniff_image(png) == Image{"png", 640, 480});
    // GIF89a, 300x200, global color table, then the trailer.
    const Bytes gif{'G', 'I', 'F', '8', '9', 'a', 0x2c, 0x01, 0xc8, 0x00, 0x80, 0x00, 0x00,
                    0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x3b};
    CHECK(sniff_image(gif) == Image{"gif", 300, 200});
    // JPEG: SOI, APP0 (JFIF), a DQT, then SOF0 of 8 bits, 480 rows, 640 columns, 3 components.
    Bytes jpeg{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
               0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00};
    jpeg.insert(jpeg.end(), 64, 0x10);
    const Bytes sof{0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 0x03,
                    0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xd9};
    jpeg.insert(jpeg.end(), sof.begin(), sof.end());
    CHECK(sniff_image(jpeg) == Image{"jpeg", 640, 480});
    // Progressive (SOF2) after fill bytes and a restart marker.
    Bytes prog{0xff, 0xd8, 0xff, 0xff, 0xd0, 0xff, 0xc2, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x20, 0x03};
    CHECK(sniff_image(prog) == Image{"jpeg", 32, 16});
    // The WebP images browsers are tested with: lossless, lossy and extended (with alpha), 1x1.
    const Bytes lossless{0x52, 0x49, 0x46, 0x46, 0x1a, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x4c, 0x0d,
                         0x00, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0x00};
    const Bytes lossy{0x52, 0x49, 0x46, 0x46, 0x22, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50,
                      0x38, 0x20, 0x16, 0x00, 0x00, 0x00, 0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x01, 0x00,
                      0x01, 0x00, 0x0e, 0xc0, 0xfe, 0x25, 0xa4, 0x00, 0x03, 0x70, 0x00, 0x00, 0x00, 0x00};
    const Bytes extended{0x52, 0x49, 0x46, 0x46, 0x4a, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50,
                         0x38, 0x58, 0x0a, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                         0x00, 0x00, 0x41, 0x4c, 0x50, 0x48, 0x0c, 0x00, 0x00, 0x00, 0x11, 0x07, 0x10, 0x11};
    CHECK(sniff_image(lossless) == Image{"webp", 1, 1});
    CHECK(sniff_image(lossy) == Image{"webp", 1, 1});
    CHECK(sniff_image(extended) == Image{"webp", 1, 1});
    Bytes wide = extended;  // canvas 4000x3000: stored minus one, 24 bits little endian
    wide[24] = 0x9f, wide[25] = 0x0f, wide[26] = 0x00, wide[27] = 0xb7, wide[28] = 0x0b, wide[29] = 0x00;
    CHECK(sniff_image(wide) == Image{"webp", 4000, 3000});

    CHECK(image_label(*sniff_image(png)) == "[image 640x480 png]");
    CHECK(media_type_of(jpeg) == "image/jpeg");
    CHECK(media_type_of(Bytes{'%', 'P', 'D', 'F'}) == "application/octet-stream");

    SUBCASE("every truncation of a header is no image, and none reads past its end") {
        for (const Bytes* full : std::initializer_list<const Bytes*>{&png, &gif, &jpeg, &lossless, &lossy, &extended}) {
            std::size_t needed = full->size();
            while (needed > 0 && sniff_image(ByteView(*full).first(needed - 1))) --needed;
            for (std::size_t n = 0; n < needed; ++n) {
                // a copy of exactly n bytes, so a read past it is caught by the sanitizers
                const Bytes cut(full->begin(), full->begin() + static_cast<std::ptrdiff_t>(n));
                CHECK(!sniff_image(cut));
            }
            CHECK(needed <= 30 + (full == &jpeg ? 100 : 0));
        }
    }
}

TEST_CASE("hostile image headers are no images") {
    // zero sizes
    CHECK(!sniff_image(Bytes{'G', 'I', 'F', '8', '9', 'a', 0, 0, 5, 0}));
    Bytes png0{0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(!sniff_image(png0));
    // a PNG whose first chunk is not IHDR, or claims a size above 2^31 - 1
    Bytes png_other = png0;
    png_other[12] = 'i';
    png_other[19] = 1;
    CHECK(!sniff_image(png_other));
    Bytes png_huge = png0;
    png_huge[16] = 0x80;
    CHECK(!sniff_image(png_huge));
    // JPEG segments with lengths below 2, a segment running past the end, a scan before a frame
    CHECK(!sniff_image(Bytes{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x00, 0xff, 0xc0}));
    CHECK(!sniff_image(Bytes{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01, 0xff, 0xc0}));
    CHECK(!sniff_image(Bytes{0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff, 0x00, 0x00}));
    CHECK(!sniff_image(Bytes{0xff, 0xd8, 0xff, 0xda, 0x00, 0x08, 0x00, 0x00}));
    CHECK(!sniff_image(Bytes{0xff, 0xd8, 0x00, 0xc0, 0x00, 0x11}));
    CHECK(!sniff_image(Bytes{0xff, 0xd8, 0xff, 0xc0, 0x00, 0x05, 0x08, 0x00, 0x10, 0x00, 0x10}));  // SOF too short
    Bytes all_ff(5000, 0xff);
    all_ff[1] = 0xd8;
    CHECK(!sniff_image(all_ff));
    // WebP: VP8 without its start code, VP8L without its signature, RIFF of something else
    CHECK(!sniff_image(Bytes{'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' ', 0, 0, 0, 0,
                             0x30, 0x01, 0x00, 0x9d, 0x01, 0x2b, 1, 0, 1, 0}));
    CHECK(!sniff_image(Bytes{'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'L', 0, 0, 0, 0,
                             0x2e, 0, 0, 0, 0}));
    CHECK(!sniff_image(Bytes{'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E', 'V', 'P', '8', 'X', 0, 0, 0, 0,
                             0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    CHECK(!sniff_image(Bytes{}));
}
