// The driver's side of the daemon API (darkchat-api(7)) and the web page: the
// event log stored, what the API asks of the store and the session answered,
// uploads kept, the sockets opened. See loop.cpp for the rest of the driver.
#include "driver.hpp"

namespace dc::io::detail {

// ---- the daemon API -----------------------------------------------------

void Driver::store_api() {
    if (auto* ops = api_->poll_store()) {
        if (store_.apply(*ops)) api_->handle_store_applied();
        else api_->handle_store_failed();
    }
    serve_api();
}

void Driver::serve_api() {
    bool uploaded = false;
    for (;;) {
        if (auto r = api_->poll_read()) {
            if (auto* log = std::get_if<api::LogRead>(&*r)) api_->handle_log(*log, store_.events_after(log->after, log->limit));
            else if (auto* h = std::get_if<api::HistoryRead>(&*r)) {
                if (h->conversation) api_->handle_lines(*h, store_.lines(*h->conversation, h->count));
                else api_->handle_history(*h, store_.history(h->user, h->count));
            }
            else if (auto* t = std::get_if<api::Typed>(&*r)) typed(*t);
            else if (auto* f = std::get_if<api::FileSend>(&*r)) send_file(*f);
            else resolve(std::get<api::Resolve>(*r));
            continue;
        }
        if (web_)
            if (auto img = web_->poll_read()) {
                web_->handle_image(*img, read_image(img->path));
                continue;
            }
        if (web_)
            if (auto up = web_->poll_upload()) {
                web_->handle_uploaded(wall_now(), *up, keep_upload(*up));
                uploaded = true;
                continue;
            }
        if (web_)
            if (auto w = web_->poll_output()) {
                web_socket_.write(w->client, std::move(w->bytes), w->close);
                continue;
            }
        auto o = api_->poll_output();
        if (!o) break;
        if (web_ && (o->client & api::kWebClient)) web_->handle_output(std::move(*o));
        else api_socket_.write(o->client, std::move(o->bytes), o->close);
    }
    // Its send_file has run, or was refused (a stranger, a group we are not in): kept
    // if offered, else gone.
    if (uploaded) files_.sweep_uploads(host_->files());
}

void Driver::typed(const api::Typed& t) {
    auto said = said_while([&] { handle_input(InputLine{t.line}); });
    if (!closing_) api_->handle_typed(t, said);
}

Result<std::string> Driver::read_image(const std::string& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (ec) return err(ec.message());
    if (size > api::Web::kMaxImage) return err("larger than 32 MiB");
    std::ifstream in(path, std::ios::binary);
    std::string bytes(size, '\0');
    if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) return err("read failed");
    return bytes;
}

Result<std::string> Driver::keep_upload(const api::Web::Upload& u) {
    namespace fs = std::filesystem;
    const fs::path dir = files_.uploads();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return err(ec.message());
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    auto name = files::safe_file_name(u.name, [&](const std::string& n) { return fs::exists(dir / n); });
    if (!name) return err(name.error());
    const std::string path = (dir / *name).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out.write(u.bytes.data(), static_cast<std::streamsize>(u.bytes.size())) || !out.flush()) {
        std::remove(path.c_str());
        return err("write failed");
    }
    return path;
}

void Driver::send_file(const api::FileSend& f) {
    using Kind = cli::FileRequest::Kind;
    const cli::FileRequest r{f.fetch.empty() ? Kind::send : Kind::fetch, f.path, f.to, {}, f.fetch, f.group};
    auto said = said_while([&] { files_.request(*host_, *session_, wall_now(), r); });
    files_.sweep_uploads(host_->files());  // an upload not offered after all goes now
    api_->handle_file_offered(f, said);
    handed_in();  // the offer goes out with the turn
}

void Driver::open_api() {
    if (opts_.api_socket.empty() || !host_->node()) return;
    if (auto r = api_socket_.open(&loop_, opts_.api_socket, api_events([this] { return api_.get(); })); !r) {
        say("! no daemon API: " + r.error());
        api_.reset();
        return;
    }
    if (opts_.web_port >= 0) open_web();
}

void Driver::open_web() {
    auto r = web_socket_.open_tcp(&loop_, static_cast<std::uint16_t>(opts_.web_port),
                                  api_events([this] { return web_.get(); }), api::kWebClient);
    if (!r) {
        say("! no web page: " + r.error());
        return;
    }
    web_ = std::make_unique<api::Web>(*api_, opts_.web_token, web_socket_.port());
    say("* web page: http://127.0.0.1:" + std::to_string(web_socket_.port()) + "/?token=" + opts_.web_token);
}

}  // namespace dc::io::detail
