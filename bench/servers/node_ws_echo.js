// Node's `ws` echo server (Debian's node-ws), the reference for
// bench/ws_bench.sh: every message comes back as it was. Usage: node node_ws_echo.js PORT
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2]), perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
