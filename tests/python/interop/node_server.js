// A webhook endpoint on Node's own `http` module, for the delivery interop suite.
//   node node_server.js PORT REQUEST_LOG
// Appends "connection webhook-id path" to REQUEST_LOG for every request it
// receives (connections numbered as Node accepts them), then answers by path:
//   /empty     204, as `res.statusCode = 204; res.end()` sends it: no body, no length
//   /trailers  200, chunked, with a trailer field after the last chunk
//   /hints     103 Early Hints (an interim answer), then 200 with a body
"use strict";
const fs = require("fs");
const http = require("http");

const [port, requestLog] = process.argv.slice(2);
let connections = 0;

const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const webhookId = req.headers["webhook-id"] || "-";
    fs.appendFileSync(requestLog, `${req.socket.serial} ${webhookId} ${req.url}\n`);
    if (req.url === "/empty") {
      res.statusCode = 204;
      res.end();
    } else if (req.url === "/trailers") {
      res.setHeader("Content-Type", "text/plain");
      res.setHeader("Trailer", "Webhook-Received");
      res.write("received ");
      res.write(webhookId);
      res.addTrailers({ "Webhook-Received": webhookId });
      res.end();
    } else if (req.url === "/hints") {
      res.writeEarlyHints({ link: "</receipt.css>; rel=preload; as=style" });
      res.setHeader("Content-Type", "application/json");
      res.end(`{"received": "${webhookId}"}`);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
});
server.on("connection", (socket) => {
  socket.serial = ++connections;
});
server.listen(Number(port), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
