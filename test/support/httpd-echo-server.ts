/**
 * A web server for the httpd tests, run as `node echo.js PORT TAG` in a lease: it answers every
 * request with what it received (method, raw URL, headers, body) and which start of it answered (`instance`), as JSON; `/stream`
 * answers five lines, one at a time; `/teapot` answers 418; `/hold` answers `first` and holds
 * the rest of its body until `/finish` is asked for. It says `listening on PORT` once it is.
 */
export const ECHO_SERVER = `
const http = require("node:http");
const port = Number(process.argv[2]);
// Which start of the server answered (a pid repeats in a sandbox's fresh PID namespace).
const instance = require("node:crypto").randomBytes(8).toString("hex");
const held = [];
http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/hold") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first\\n");
        held.push(res);
        return;
      }
      if (req.url === "/finish") {
        for (const r of held.splice(0)) r.end("last\\n");
        res.end("finished\\n");
        return;
      }
      if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "text/plain" });
        let i = 0;
        const timer = setInterval(() => {
          res.write("chunk " + i + "\\n");
          if (++i === 5) {
            clearInterval(timer);
            res.end();
          }
        }, 20);
        return;
      }
      res.writeHead(req.url === "/teapot" ? 418 : 200, { "content-type": "application/json", "x-echo": "yes" });
      res.end(JSON.stringify({ instance, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  })
  .listen(port, "127.0.0.1", () => console.log("listening on " + port));
`;
