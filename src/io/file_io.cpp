// The driver's file operations for transfers (file_io.hpp).
#include "file_io.hpp"

#include "darkchat/files.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

namespace dc::io {

namespace {

TimeMs now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string why(int e) { return std::strerror(e); }

// Reads exactly length bytes at offset; an error in words when it cannot.
Result<Bytes> read_at(int fd, std::uint64_t offset, std::uint32_t length) {
    Bytes b(length);
    std::size_t got = 0;
    while (got < length) {
        ssize_t n = ::pread(fd, b.data() + got, length - got, static_cast<off_t>(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return err(why(errno));
        if (n == 0) return err("the file is shorter than it was");
        got += static_cast<std::size_t>(n);
    }
    return b;
}

Result<void> write_at(int fd, std::uint64_t offset, ByteView bytes) {
    std::size_t put = 0;
    while (put < bytes.size()) {
        ssize_t n = ::pwrite(fd, bytes.data() + put, bytes.size() - put, static_cast<off_t>(offset + put));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return err(why(errno));
        put += static_cast<std::size_t>(n);
    }
    return {};
}

void sync_dir_of(const std::string& path) {
    std::string dir = std::filesystem::path(path).parent_path().string();
    int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

FileIo::FileIo() {
    // Buffers below 4 MiB come from the heap, and up to 64 MiB free at its top stays
    // there: a transfer's chunk buffers are reused, not faulted in again each time.
    ::mallopt(M_MMAP_THRESHOLD, 4 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

FileIo::~FileIo() {
    for (auto& [path, fd] : open_) ::close(fd);
}

int FileIo::open_for_write(const std::string& path) {
    if (auto it = open_.find(path); it != open_.end()) return it->second;
    if (open_.size() >= kMaxOpen) close_file(open_.begin()->first, false);  // its page cache stays; a Sync reopens
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) open_[path] = fd;
    return fd;
}

void FileIo::close_file(const std::string& path, bool sync) {
    auto it = open_.find(path);
    if (it == open_.end()) return;
    if (sync) ::fdatasync(it->second);
    ::close(it->second);
    open_.erase(it);
}

void FileIo::perform(host::Host& host, cli::Session& session) {
    while (auto op = host.poll_file_io()) {
        std::visit(
            [&](auto& o) {
                using T = std::decay_t<decltype(o)>;
                if constexpr (std::is_same_v<T, files::io::Read>) {
                    // A read-back of a file still being written sees what was written (the page cache).
                    int fd = ::open(o.path.c_str(), O_RDONLY | O_CLOEXEC);
                    if (fd < 0) {
                        host.handle_file_read_failed(now_ms(), o.id, o.side, o.path + ": " + why(errno), o.peer, o.session);
                        return;
                    }
                    auto b = read_at(fd, o.offset, o.length);
                    ::close(fd);
                    if (b) host.handle_file_read(now_ms(), o.id, o.side, o.index, *b, o.peer, o.session);
                    else host.handle_file_read_failed(now_ms(), o.id, o.side, o.path + ": " + b.error(), o.peer,
                                                      o.session);
                } else if constexpr (std::is_same_v<T, files::io::Write>) {
                    int fd = open_for_write(o.path);
                    auto r = fd < 0 ? Result<void>(err(why(errno))) : write_at(fd, o.offset, o.bytes);
                    // Not counted: the part asks for the chunk again once write_retry has passed.
                    if (!r) {
                        if (failing_.insert(o.path).second)
                            session.note("! file " + cli::short_id(o.id) + ": cannot write " + o.path + ": " +
                                         r.error() + " (the chunks are fetched again once there is room)");
                        host.handle_file_write_failed(now_ms(), o.id, o.index);
                    } else if (failing_.erase(o.path)) {
                        session.note("* file " + cli::short_id(o.id) + ": writing again");
                    }
                } else if constexpr (std::is_same_v<T, files::io::Sync>) {
                    if (auto it = open_.find(o.path); it != open_.end()) {
                        ::fdatasync(it->second);
                    } else if (int fd = ::open(o.path.c_str(), O_WRONLY | O_CLOEXEC); fd >= 0) {
                        ::fdatasync(fd);  // the file's pages, written through a descriptor since closed
                        ::close(fd);
                    }
                } else if constexpr (std::is_same_v<T, files::io::Finish>) {
                    close_file(o.path, true);
                    // Never over a file that appeared meanwhile under the final name.
                    if (::renameat2(AT_FDCWD, o.path.c_str(), AT_FDCWD, o.final_path.c_str(), RENAME_NOREPLACE) != 0)
                        session.note("! file " + cli::short_id(o.id) + ": cannot rename " + o.path + " to " +
                                     o.final_path + ": " + why(errno) + " (the checked file stays as " + o.path + ")");
                    else sync_dir_of(o.final_path);
                } else if constexpr (std::is_same_v<T, files::io::Open>) {
                    if (pool_) return pool_->submit(std::move(o));
                    Bytes plain;
                    const auto r = files::open_chunk(host.file_crypto(), o, plain);
                    host.handle_file_opened(now_ms(), o.id, o.index, r, std::move(plain));
                } else if constexpr (std::is_same_v<T, files::io::Remove>) {
                    close_file(o.path, false);
                    failing_.erase(o.path);
                    ::unlink(o.path.c_str());
                }
            },
            *op);
    }
}

void FileIo::start_pool(std::size_t threads, std::function<void()> wake) {
    pool_ = std::make_unique<ChunkPool>(threads, std::move(wake));
}

void FileIo::take_opened(host::Host& host) {
    if (!pool_) return;
    for (auto& d : pool_->take()) host.handle_file_opened(now_ms(), d.id, d.index, d.result, std::move(d.plain));
}

void FileIo::sweep_uploads(const files::Machine* machine) {
    namespace fs = std::filesystem;
    if (uploads_.empty()) return;
    const fs::path dir = fs::path(uploads_).lexically_normal();
    std::set<fs::path> read;  // the files a transfer still reads
    if (machine)
        for (auto& t : machine->transfers())
            if (t.side != files::Side::receiving && !t.path.empty()) read.insert(fs::path(t.path).lexically_normal());
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        // Only plain files written by the page: nothing else is there, and nothing else goes.
        std::error_code e;
        if (!it->is_regular_file(e) || e) continue;
        if (!read.count(it->path().lexically_normal())) fs::remove(it->path(), e);
    }
}

void FileIo::request(host::Host& host, cli::Session& session, TimeMs now, const cli::FileRequest& r) {
    if (r.kind == cli::FileRequest::Kind::send) offer(host, session, now, r);
    else accept(host, session, now, r);
}

// \send: the manifest is made from the file read chunk by chunk (a hash per chunk
// and of the whole), then the file part offers it.
void FileIo::offer(host::Host& host, cli::Session& session, TimeMs now, const cli::FileRequest& r) {
    const std::string path = std::filesystem::absolute(r.path).string();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        session.note("! cannot send " + r.path + ": " + why(errno));
        return;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        session.note("! cannot send " + r.path + ": not a regular file");
        return;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size == 0 || size > wire::kMaxFileSize) {
        ::close(fd);
        session.note("! cannot send " + r.path + ": " + std::to_string(size) + " bytes (from 1 to " +
                     std::to_string(wire::kMaxFileSize) + ")");
        return;
    }
    auto head = read_at(fd, 0, static_cast<std::uint32_t>(std::min<std::uint64_t>(size, 64)));
    const std::string type = head ? files::media_type_of(*head) : "application/octet-stream";
    auto builder = host.manifest_builder(std::filesystem::path(path).filename().string(), size, type);
    const std::uint32_t chunk = files::chunk_size_for(size);
    for (std::uint64_t at = 0; at < size; at += chunk) {
        auto b = read_at(fd, at, static_cast<std::uint32_t>(std::min<std::uint64_t>(chunk, size - at)));
        if (!b || !builder.add(*b)) {
            ::close(fd);
            session.note("! cannot send " + r.path + ": " + (b ? std::string("it changed while read") : b.error()));
            return;
        }
    }
    ::close(fd);
    // The offers this makes are the transfers that were not there before (a group's file
    // says so itself: shared with ...).
    std::set<files::FileId> before;
    if (const files::Machine* m = host.files())
        for (const auto& t : m->transfers()) before.insert(t.id);
    auto o = r.group ? host.share_file(now, *r.group, builder, path) : host.offer_file(now, r.to, builder, path);
    if (!o) {
        session.note("! cannot send " + r.path + ": " + o.error());
        return;
    }
    const files::Machine* m = host.files();
    if (r.group || !m || !host.node()) return;
    for (const auto& t : m->transfers()) {
        if (t.side != files::Side::sending || before.count(t.id)) continue;
        const bool own = t.peer == host.node()->identity().pk;
        const std::size_t n = t.replies.size();
        session.note("* file " + cli::short_id(t.id) + " offered to " + (own ? "our other devices" : r.to) + ": " +
                     cli::printable(t.name) + " (" + std::to_string(t.size) + " bytes, " +
                     (n == 0 ? std::string("no session online yet") :
                               std::to_string(n) + (n == 1 ? " session online" : " sessions online")) + ")");
    }
}

// \accept (and \fetch): a safe name in the download folder that is not taken, the
// chunks written beside it under a name of its own until the whole file checked out.
void FileIo::accept(host::Host& host, cli::Session& session, TimeMs now, const cli::FileRequest& r) {
    const std::string what = r.kind == cli::FileRequest::Kind::fetch ? "fetch " + r.name
                                                                      : "accept file " + cli::short_id(r.id);
    std::error_code ec;
    std::filesystem::create_directories(downloads_, ec);
    if (ec) {
        session.note("! cannot " + what + ": " + downloads_ + ": " + ec.message());
        return;
    }
    auto taken = [&](const std::string& name) {
        const std::string p = downloads_ + "/" + name;
        return std::filesystem::exists(p, ec) || std::filesystem::exists(p + ".part", ec);
    };
    auto name = files::safe_file_name(r.name, taken);
    if (!name) {
        session.note("! cannot " + what + ": " + name.error());
        return;
    }
    const std::string final_path = downloads_ + "/" + *name;
    const std::string partial = final_path + ".part";
    // Claim the name now with the (empty) partial file, so that a second offer of the
    // same name accepted before the first chunk is written gets another.
    int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        session.note("! cannot " + what + ": " + partial + ": " + why(errno));
        return;
    }
    ::close(fd);
    if (r.kind == cli::FileRequest::Kind::fetch) {
        host.handle_file_command(now, files::cmd::Fetch{*r.group, r.name, partial, final_path});
        session.note("* asking the members for " + r.name + " (to be saved as " + final_path + ")");
        return;
    }
    host.handle_file_command(now, files::cmd::Accept{r.id, partial, final_path});
    session.note("* file " + cli::short_id(r.id) + " will be saved as " + final_path);
}

}  // namespace dc::io
