// The C API from C++: RAII owners for the handles, a class as the handler's
// userdata, and requests from several threads at once.
#include <flutter.h>

#include "http.h"

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

struct ConfigFree {
    void operator()(flutter_config *cfg) const { flutter_config_free(cfg); }
};
struct ServerFree {
    void operator()(flutter_server *server) const { flutter_server_free(server); }
};
using Config = std::unique_ptr<flutter_config, ConfigFree>;
using Server = std::unique_ptr<flutter_server, ServerFree>;

std::string text(flutter_str s) { return std::string(s.data, s.len); }

class Counter {
  public:
    // The handler: answers /count, declines the rest to Lua.
    static flutter_handler_result handle(void *self, const flutter_request *req,
                                         flutter_response *resp) noexcept {
        return static_cast<Counter *>(self)->answer(req, resp);
    }

    int served() const { return served_.load(); }

  private:
    flutter_handler_result answer(const flutter_request *req, flutter_response *resp) {
        if (text(flutter_request_path(req)) != "/count") {
            return FLUTTER_HANDLER_RESULT_DECLINED;
        }
        std::string body = "count " + std::to_string(++served_);
        flutter_response_add_header(resp, "content-type", "text/plain");
        flutter_response_set_body(resp, reinterpret_cast<const uint8_t *>(body.data()),
                                  body.size());
        return FLUTTER_HANDLER_RESULT_ANSWERED;
    }

    std::atomic<int> served_{0};
};

bool check(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "check failed: %s (%s)\n", what, flutter_last_error());
    }
    return ok;
}

int run() {
    const std::string script = "return function(req) return 'lua ' .. req.path end";
    Counter counter;
    Config cfg(flutter_config_new());
    if (!check(cfg != nullptr, "config") ||
        !check(flutter_config_add_listen(cfg.get(), "127.0.0.1:0") == FLUTTER_RESULT_OK, "listen") ||
        !check(flutter_config_set_workers(cfg.get(), 2) == FLUTTER_RESULT_OK, "workers") ||
        !check(flutter_config_set_access_log(cfg.get(), "off") == FLUTTER_RESULT_OK, "log") ||
        !check(flutter_config_set_script_source(cfg.get(), "cpp.lua", script.data(),
                                                script.size()) == FLUTTER_RESULT_OK,
               "script") ||
        !check(flutter_config_set_handler(cfg.get(), Counter::handle, &counter) ==
                   FLUTTER_RESULT_OK,
               "handler")) {
        return 1;
    }
    flutter_server *raw = nullptr;
    if (!check(flutter_server_start(cfg.get(), &raw) == FLUTTER_RESULT_OK, "start")) {
        return 1;
    }
    Server server(raw);
    const uint16_t port = flutter_server_port(server.get(), 0);

    std::atomic<int> failures{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; t++) {
        clients.emplace_back([&failures, port] {
            for (int i = 0; i < 10; i++) {
                http_response r{};
                if (http_get(port, "/count", &r) != 0 || r.status != 200 ||
                    std::string(r.body, r.body_len).rfind("count ", 0) != 0) {
                    failures++;
                }
                http_response_free(&r);
                if (http_get(port, "/lua", &r) != 0 || !http_body_is(&r, "lua /lua")) {
                    failures++;
                }
                http_response_free(&r);
            }
        });
    }
    for (auto &c : clients) {
        c.join();
    }
    return check(failures == 0, "every request answered") &&
                   check(counter.served() == 40, "the C++ handler counted 40")
               ? 0
               : 1;
}

} // namespace

int main() { return run(); }
