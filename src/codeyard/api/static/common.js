// codeyard web app: shared helpers (the API key, requests, the live stream, small DOM helpers).
// The key lives in localStorage and travels only in the Authorization header, never in a URL.
"use strict";

const KEY_NAME = "codeyard.api_key";
const ORG_NAME = "codeyard.org_id";

const cy = {
  key() { return window.localStorage.getItem(KEY_NAME); },
  setKey(value) { window.localStorage.setItem(KEY_NAME, value.trim()); },
  forget() { window.localStorage.removeItem(KEY_NAME); window.localStorage.removeItem(ORG_NAME); },

  el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  },

  async api(path, options) {
    const opts = options || {};
    const headers = { "Authorization": "Bearer " + cy.key() };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: opts.method || "GET",
      headers: headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: "no-store",
    });
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const problem = await response.json();
        detail = typeof problem.detail === "string" ? problem.detail : JSON.stringify(problem.detail);
      } catch (e) { /* not JSON */ }
      const err = new Error(detail || ("HTTP " + response.status));
      err.status = response.status;
      throw err;
    }
    return response.json();
  },

  // The org the key acts in: its own, or (enterprise key) the chosen or first organization.
  async whoami() {
    const me = await cy.api("/v3/self");
    if (me.org_id) return { me: me, org: me.org_id, orgs: null };
    const orgs = (await cy.api("/v3/enterprise/organizations?first=200")).items || [];
    const chosen = window.localStorage.getItem(ORG_NAME);
    const org = orgs.some((o) => o.org_id === chosen) ? chosen : (orgs[0] && orgs[0].org_id);
    return { me: me, org: org, orgs: orgs };
  },
  chooseOrg(orgId) { window.localStorage.setItem(ORG_NAME, orgId); },
  orgPath(org, suffix) { return "/v3/organizations/" + encodeURIComponent(org) + suffix; },

  // Reads a text/event-stream with fetch (EventSource cannot send the Authorization header).
  // Calls onEvent({id, event, data}) per message; resolves when the server ends the stream.
  async readStream(path, lastEventId, onEvent, signal) {
    const headers = { "Authorization": "Bearer " + cy.key(), "Accept": "text/event-stream" };
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    const response = await fetch(path, { headers: headers, signal: signal, cache: "no-store" });
    if (!response.ok) {
      const err = new Error("the live stream answered HTTP " + response.status);
      err.status = response.status;
      throw err;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let message = { id: null, event: "message", data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (message.data.length) onEvent({ id: message.id, event: message.event, data: message.data.join("\n") });
          else if (message.id !== null) onEvent({ id: message.id, event: "", data: "" });
          message = { id: null, event: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) continue;  // a heartbeat
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") message.data.push(value);
        else if (field === "event") message.event = value;
        else if (field === "id") message.id = value;
      }
    }
  },

  statusBadge(session) {
    let kind = session.status;
    let text = session.status;
    if (session.is_archived) { kind = "archived"; text = "archived"; }
    else if (session.status === "running" && session.status_detail === "waiting_for_user") { kind = "waiting"; text = "waiting for you"; }
    else if (session.status === "running") { kind = "working"; text = "working"; }
    else if (session.status === "exit" && session.status_detail === "finished") { kind = "finished"; text = "finished"; }
    else if (session.status === "exit") { kind = "stopped"; text = "stopped"; }
    else if (session.status === "suspended") { kind = "waiting"; text = "suspended" + (session.status_detail ? " (" + session.status_detail.replace(/_/g, " ") + ")" : ""); }
    else if (session.status === "new") { text = session.queue_position ? "queued #" + session.queue_position : "queued"; }
    return cy.el("span", { class: "badge " + kind, text: text });
  },

  when(epoch) {
    const d = new Date(epoch * 1000);
    const today = new Date();
    return d.toDateString() === today.toDateString()
      ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  },

  // The key form: shown when there is no key, or the key was refused.
  keyForm(container, message, onKey) {
    const input = cy.el("input", { type: "password", id: "key", autocomplete: "off", placeholder: "cog_…", "aria-label": "API key" });
    const form = cy.el("form", { class: "card keyform notice" + (message ? " bad" : ""), id: "keyform" },
      cy.el("p", { text: message || "Enter an API key (cog_…) to see this server's sessions. It is kept in this browser only, and sent only to this server." }),
      cy.el("div", { class: "row" }, input, cy.el("button", { type: "submit", class: "primary", text: "Continue" })));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!input.value.trim()) return;
      cy.setKey(input.value);
      onKey();
    });
    container.replaceChildren(form);
    input.focus();
  },
};
window.cy = cy;
