// The API reference page: loads /api/v1/openapi.json with the API token
// kept in this tab's session storage (the console at /admin shares it) and
// sends the token with every "Try it out" request.
"use strict";

const TOKEN_KEY = "kai-token";
const note = document.getElementById("note");
const field = document.getElementById("token");

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function load() {
  if (!token()) {
    note.textContent = "Enter an API token to load the reference: the document lists the routes of the plugins installed now, so it takes a token like any other route.";
    document.getElementById("swagger-ui").replaceChildren();
    return;
  }
  note.textContent = "";
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No request to validator.swagger.io or any other host.
    validatorUrl: null,
    requestInterceptor: (request) => {
      request.headers.Authorization = "Bearer " + token();
      return request;
    },
    onComplete: () => {
      note.textContent = "";
    },
  });
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = field.value.trim();
  if (value) {
    sessionStorage.setItem(TOKEN_KEY, value);
  }
  field.value = "";
  load();
});

document.getElementById("forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  load();
});

load();
