// A WebSocket echo server with its own test page: GET / returns a page whose
// script echoes through ws://HOST/ws; every message sent to /ws comes back
// as it was (text or binary). The benchmark (bench/ws_bench.sh) and the
// protocol tests use it. Usage: example_web_echo [PORT] [MAX_MESSAGE_BYTES]
#include "web_common.hpp"

using namespace green::web;

namespace {

constexpr std::string_view kPage = R"(<!doctype html>
<title>echo</title>
<pre id="out">connecting</pre>
<script>
const ws = new WebSocket("ws://" + location.host + "/ws");
ws.onopen = () => ws.send("hallo");
ws.onmessage = (e) => { document.getElementById("out").textContent = "echo: " + e.data; document.title = "echo: " + e.data; };
</script>
)";

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (argc > 2) opt.max_message_bytes = static_cast<std::size_t>(std::atoll(argv[2]));
  green::run([&] {
    Server server(
        example::endpoint_from(argc, argv, 8000),
        [](Request& req, Reply& reply) {
          if (req.target() == "/ws") {
            WebSocket ws = reply.accept_websocket(req);
            while (auto m = ws.receive()) ws.send(m->data, m->binary);
            return;
          }
          Response res{http::status::ok, req.version()};
          res.set(http::field::content_type, "text/html; charset=utf-8");
          res.body() = kPage;
          reply.send(std::move(res));
        },
        opt);
    example::serve(server);
  });
}
