"""gevent's pywsgi serving the files of a directory, the reference for
`green serve http` in bench/serve_http_bench.sh: each request opens and reads
its file, as a static-file WSGI app does. Usage: pywsgi_files.py DIR PORT"""
import os
import sys

from gevent import monkey

monkey.patch_all()

from gevent.pywsgi import WSGIServer  # noqa: E402

root = os.path.realpath(sys.argv[1])


def app(environ, start_response):
    path = os.path.realpath(os.path.join(root, environ["PATH_INFO"].lstrip("/")))
    if not path.startswith(root + os.sep) or not os.path.isfile(path):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"404 Not Found\n"]
    with open(path, "rb") as f:
        body = f.read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
    return [body]


server = WSGIServer(("127.0.0.1", int(sys.argv[2])), app, log=None, backlog=4096)
print("listening on 127.0.0.1:%d" % server.address[1], file=sys.stderr, flush=True)
server.serve_forever()
