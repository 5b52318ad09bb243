#!/usr/bin/python3
"""The third seed's web chat (002_*.txt, "Chat-Server": Flask on gevent's
pywsgi, rooms with a backlog, a queue per user, messages posted with POST and
received by long polling), ported to Python 3 for bench/chat_web_bench.sh.
The routes and what they do are the seed's; the seed's templates are not in
it, so the pages are one-line stand-ins. Changes: Room is defined before the
rooms that use it (the seed's order raises NameError), json instead of
simplejson (same dumps), pywsgi's access log is off (green's chat logs
no requests either) and TCP_NODELAY is on (see below). Usage: flask_chat.py PORT"""
import json
import socket
import sys

from flask import Flask, render_template_string, request
from gevent import queue
from gevent.pywsgi import WSGIServer

app = Flask(__name__)
app.debug = True


class Room(object):

    def __init__(self):
        self.users = set()
        self.messages = []

    def backlog(self, size=25):
        return self.messages[-size:]

    def subscribe(self, user):
        self.users.add(user)

    def add(self, message):
        for user in self.users:
            user.queue.put_nowait(message)
        self.messages.append(message)


class User(object):

    def __init__(self):
        self.queue = queue.Queue()


rooms = {
    'topic1': Room(),
    'topic2': Room(),
}

users = {}


@app.route('/')
def choose_name():
    return render_template_string('<form>name: <input name="uid"></form>')


@app.route('/<uid>')
def main(uid):
    return render_template_string('{% for r in rooms %}<a href="/{{ r }}/{{ uid }}">{{ r }}</a> {% endfor %}',
                                  uid=uid, rooms=rooms.keys())


@app.route('/<room>/<uid>')
def join(room, uid):
    user = users.get(uid, None)

    if not user:
        users[uid] = user = User()

    active_room = rooms[room]
    active_room.subscribe(user)

    messages = active_room.backlog()

    return render_template_string('<h1>{{ room }}</h1>{% for m in messages %}<p>{{ m }}</p>{% endfor %}',
                                  room=room, uid=uid, messages=messages)


@app.route("/put/<room>/<uid>", methods=["POST"])
def put(room, uid):
    user = users[uid]  # noqa: F841 (the seed looks the user up)
    room = rooms[room]

    message = request.form['message']
    room.add(':'.join([uid, message]))

    return ''


@app.route("/poll/<uid>", methods=["POST"])
def poll(uid):
    try:
        msg = users[uid].queue.get(timeout=10)
    except queue.Empty:
        msg = []
    return json.dumps(msg)


if __name__ == "__main__":
    http = WSGIServer(('127.0.0.1', int(sys.argv[1])), app, log=None, backlog=4096)
    http.init_socket()
    # Accepted sockets inherit it. pywsgi sends a response's header and body
    # in two writes; with Nagle on, each response would wait ~40 ms for the
    # client's delayed ACK, which would measure timers, not the server.
    http.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print("listening on 127.0.0.1:%d" % http.server_port, file=sys.stderr, flush=True)
    http.serve_forever()
