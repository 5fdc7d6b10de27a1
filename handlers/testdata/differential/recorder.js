// A recorder upstream on Node.js's http module, for the differential test
// (handlers/differential_test.go). Every request is answered 200 with a JSON
// view of what this stack parsed, and the same view is appended as one line
// to LOG_FILE before the answer is sent, so the file holds every request
// that reached this stack, in order.
//
// usage: node recorder.js LOG_FILE
// It listens on a free loopback port and prints "listening PORT".
'use strict';
const fs = require('fs');
const http = require('http');

const logFile = process.argv[2];
let count = 0;

const server = http.createServer((req, res) => {
  let body = 0;
  req.on('data', (chunk) => { body += chunk.length; });
  req.on('end', () => {
    count++;
    // rawHeaders keeps every line in order with its spelling; req.headers
    // would fold duplicates (and keep only the first Authorization).
    const headers = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    }
    let path;
    try {
      path = new URL(req.url, 'http://recorder.invalid').pathname;
    } catch (e) {
      path = '(unparsable) ' + req.url;
    }
    const view = JSON.stringify({
      stack: 'node', count, method: req.method, target: req.url, path, headers, body,
    });
    fs.appendFileSync(logFile, view + '\n');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(view) });
    res.end(view);
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});
