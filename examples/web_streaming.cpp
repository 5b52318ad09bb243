// The seeds' streaming server: the handler writes its body piece by piece
// (pywsgi's generator handler), so it goes out chunked.
// Usage: example_web_streaming [PORT] (default 8000).
#include "web_common.hpp"

using namespace green::web;

int main(int argc, char** argv) {
  green::run([&] {
    Server server(example::endpoint_from(argc, argv, 8000), [](Request&, Reply& reply) {
      reply.header().set(http::field::content_type, "text/html");
      reply.write("<p>Hallo");
      reply.write("Welt!</p>");
    });
    example::serve(server);
  });
}
