// The script of Drydock's /docs page (src/api/docs-page.ts), served from this origin like the
// Swagger UI bundle it starts: the page runs no inline script, so its Content-Security-Policy
// can allow scripts from this origin only.
//
// The OpenAPI document and every route but /healthz need a token. The page asks for one once per
// browser tab and keeps it in sessionStorage (never a cookie, never the URL), then sends it on
// every request Swagger UI makes, unless the request already carries one (the Authorize button).
(function () {
  "use strict";
  var KEY = "drydock-token";

  function tokenOfThisTab() {
    var token = sessionStorage.getItem(KEY);
    if (!token) {
      token = (window.prompt("Drydock bearer token (ddk_...); kept in this tab only") || "").trim();
      if (token) sessionStorage.setItem(KEY, token);
    }
    return token;
  }

  window.ui = window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    // Swagger UI would otherwise send the document to validator.swagger.io for a badge.
    validatorUrl: null,
    requestInterceptor: function (request) {
      var token = tokenOfThisTab();
      if (token && !request.headers.Authorization) request.headers.Authorization = "Bearer " + token;
      return request;
    },
  });
})();
