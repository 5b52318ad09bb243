// The seeds' WSGI hello: `<p>Hallo Welt!</p>` as text/html on every path.
// Usage: example_web_hello [PORT] (default 8000; 0 picks a free one).
#include "web_common.hpp"

using namespace green::web;

int main(int argc, char** argv) {
  green::run([&] {
    Server server(example::endpoint_from(argc, argv, 8000), [](Request& req) {
      Response res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/html");
      res.body() = "<p>Hallo Welt!</p>";
      return res;
    });
    example::serve(server);
  });
}
