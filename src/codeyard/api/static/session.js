// A session's page: the transcript live over the stream, each tool step collapsible, reply / stop / archive.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SESSION_ID = document.body.dataset.session;
  const FINAL = new Set(["exit", "error", "suspended"]);
  let org = null;
  let session = null;
  let lastEventId = null;
  let streaming = null;  // the AbortController of the open stream
  const seen = new Set();
  const pending = [];    // [{text, body, card}] waiting for the server's rendering
  let renderTimer = null;
  let refreshTimer = null;

  // -- the gate: key, wrong key, unknown session ---------------------------------------------------------
  function gate(title, text, withKeyForm) {
    $("content").hidden = true;
    if (streaming) streaming.abort();
    const links = cy.el("div", { class: "row" },
      cy.el("a", { class: "button", href: "/", text: "All sessions" }),
      cy.el("button", { type: "button", text: "Use another key", onclick: () => { cy.forget(); cy.keyForm($("gate"), null, start); } }));
    const card = cy.el("div", { class: "card notice bad", id: "problem", role: "alert" },
      cy.el("h1", { text: title }), cy.el("p", { text: text }), links);
    if (withKeyForm) cy.keyForm($("gate"), text, start);
    else $("gate").replaceChildren(card);
  }

  function failed(err) {
    if (err.status === 401) { cy.forget(); gate("Key refused", "This key was refused (unknown, revoked or expired). Enter another key.", true); }
    else if (err.status === 404 || err.status === 403) gate("Session not found", "No session " + SESSION_ID + " is visible with this key. It may not exist, or it belongs to another organization.", false);
    else $("action-error").textContent = "Something went wrong: " + err.message;
  }

  // -- the session: header, side panel ----------------------------------------------------------------------
  function showSession(s) {
    session = s;
    document.title = s.title + " · codeyard";
    $("title").textContent = s.title;
    $("status").replaceChildren(cy.statusBadge(s));
    $("meta").textContent = "started " + cy.when(s.created_at) + " · " + s.acus_consumed.toFixed(2) + " ACU";
    const stopped = s.is_archived || (s.status === "exit" && s.status_detail === "user_request");
    $("stop").disabled = stopped;
    $("archive").disabled = s.is_archived;
    $("reply").disabled = $("send").disabled = stopped;
    $("reply-hint").textContent = stopped ? "This session was " + (s.is_archived ? "archived" : "stopped") + ": it takes no more messages." : "";
    if (!stopped) $("reply-hint").append(cy.el("kbd", { text: "Ctrl" }), "+", cy.el("kbd", { text: "Enter" }), " sends. Steps open and close with ", cy.el("kbd", { text: "Enter" }), ".");
    // A PR's address comes from the forge's answer: only an http(s) one becomes a link.
    const prLink = (url) => /^https?:\/\//i.test(url || "") ? cy.el("a", { href: url, rel: "noopener noreferrer", text: url }) : cy.el("span", { text: String(url) });
    const prs = (s.pull_requests || []).map((pr) => cy.el("li", { class: "pr" }, prLink(pr.pr_url), " ", cy.el("span", { class: "badge pr-state " + (pr.pr_state || "open"), text: pr.pr_state || "open" })));
    $("prs").replaceChildren(...prs);
    $("no-prs").hidden = prs.length > 0;
    const facts = [s.session_id];
    if (s.repos && s.repos.length) facts.push("repos: " + s.repos.join(", "));
    if (s.tags && s.tags.length) facts.push("tags: " + s.tags.join(", "));
    if (s.error_message) facts.push("error: " + s.error_message);
    $("details").replaceChildren(...facts.flatMap((f, i) => (i ? [cy.el("br"), f] : [f])));
  }

  async function refresh() {
    try {
      showSession(await cy.api(cy.orgPath(org, "/sessions/" + SESSION_ID)));
      const atts = (await cy.api(cy.orgPath(org, "/sessions/" + SESSION_ID + "/attachments"))).items || [];
      $("attachments").replaceChildren(...atts.map((a) => cy.el("li", {}, cy.el("a", { href: a.url, rel: "noopener noreferrer", text: a.name }), cy.el("span", { class: "muted", text: " · " + a.source }))));
      $("no-attachments").hidden = atts.length > 0;
      await loadChanges();
    } catch (err) { failed(err); }
  }

  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 150);
  }

  // -- the hand-back panel: each repository's commits, uncommitted work, downloads and commands to copy ----------------
  const SAFE_WORD = /^[A-Za-z0-9_@%+=:,.\/-]+$/;
  function shellWord(text) {
    // Quoted for a POSIX shell, so a repository name can never become a second command in a copied line.
    return SAFE_WORD.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function copyable(label, command) {
    const pre = cy.el("pre", {}, cy.el("code", { text: command }));
    const button = cy.el("button", { type: "button", class: "copy", "aria-label": "Copy: " + label, text: "Copy" });
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(command);
        button.textContent = "Copied";
      } catch (err) {  // no clipboard access: select the text for Ctrl+C
        window.getSelection().selectAllChildren(pre);
        button.textContent = "Selected";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
    return cy.el("div", { class: "cmd" }, cy.el("div", { class: "muted", text: label }), cy.el("div", { class: "row" }, pre, button));
  }

  async function download(name) {
    // The key travels in a header, never in a link, so the file is fetched here and handed to the browser.
    $("download-error").textContent = "";
    try {
      const response = await fetch(cy.orgPath(org, "/sessions/" + SESSION_ID + "/changes/" + name), {
        headers: { "Authorization": "Bearer " + cy.key() }, cache: "no-store",
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const url = URL.createObjectURL(await response.blob());
      const link = cy.el("a", { href: url, download: session.session_id + "-" + name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      $("download-error").textContent = "Download failed: " + err.message;
    }
  }

  function repoChanges(item, several) {
    const sid = session.session_id;
    const branch = "codeyard/" + sid;
    const stat = item.diffstat;
    const head = cy.el("div", { class: "row" },
      cy.el("strong", { text: item.repo }),
      cy.el("span", { class: "muted", text: "in " + item.directory + "/" }),
      cy.el("span", { class: "badge", text: item.commits.length + (item.commits.length === 1 ? " commit" : " commits") }),
      item.uncommitted ? cy.el("span", { class: "badge warn", text: "uncommitted changes" }) : null);
    const facts = cy.el("div", { class: "muted" },
      "base ", cy.el("span", { class: "sha", text: item.base_sha.slice(0, 12) }),
      " → head ", cy.el("span", { class: "sha", text: item.head_sha.slice(0, 12) }),
      " · " + stat.files_changed + (stat.files_changed === 1 ? " file" : " files") + ", +" + stat.insertions + " −" + stat.deletions,
      item.commits.length ? " · branch " : null, item.commits.length ? cy.el("span", { class: "sha", text: branch }) : null);
    const commits = cy.el("ul", { class: "commits" },
      ...item.commits.map((c) => cy.el("li", {}, cy.el("code", { text: c.sha.slice(0, 12) }), " " + c.subject)));
    const bundle = item.index + ".bundle";
    const patch = item.index + ".patch";
    const downloads = cy.el("div", { class: "row downloads" },
      item.commits.length ? cy.el("button", { type: "button", class: "download-bundle", text: "Download bundle", onclick: () => download(bundle) }) : null,
      item.uncommitted ? cy.el("button", { type: "button", class: "download-patch", text: "Download patch", onclick: () => download(patch) }) : null);
    const node = cy.el("div", { class: "repo", "data-repo": String(item.index) }, head, facts);
    if (!item.commits.length && !item.uncommitted) {
      node.append(cy.el("p", { class: "muted", text: "No change in this repository yet." }));
      return node;
    }
    if (item.commits.length) node.append(commits);
    node.append(downloads);
    const pull = ["codeyard", "sessions", "pull", sid].concat(several ? ["--repo", shellWord(item.repo)] : [])
      .concat(item.uncommitted ? ["--apply-patch"] : []).join(" ");
    node.append(copyable("In your clone of " + item.repo + ":", pull));
    const git = [];
    if (item.commits.length) git.push("git fetch " + shellWord(sid + "-" + bundle) + " +refs/heads/codeyard:refs/heads/" + branch);
    if (item.uncommitted) git.push("git apply " + shellWord(sid + "-" + patch));
    node.append(copyable("Or with git, from the downloaded files:", git.join("\n")));
    return node;
  }

  let changesTimer = null;
  let changesShown = "";
  async function loadChanges() {
    if (!session || !(session.repos || []).length) return;  // nothing was cloned: nothing to hand back
    let result;
    try {
      result = await cy.api(cy.orgPath(org, "/sessions/" + SESSION_ID + "/changes"));
    } catch (err) {
      // Say why instead of leaving the panel out; what was shown before stays, below the error.
      $("changes-error").textContent = "Could not read the agent's changes: " + err.message;
      $("handback").hidden = false;
      return;
    }
    $("changes-error").textContent = "";
    const items = result.items || [];
    const key = JSON.stringify(items);
    if (key === changesShown) return;  // unchanged: leave the panel (and any selection in it) alone
    changesShown = key;
    $("changes").replaceChildren(...items.map((item) => repoChanges(item, items.length > 1)));
    $("handback").hidden = items.length === 0;
  }

  function changesSoon() {
    clearTimeout(changesTimer);
    changesTimer = setTimeout(loadChanges, 1000);
  }

  // -- the transcript -----------------------------------------------------------------------------------------
  function append(node) {
    const box = $("timeline");
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
    box.append(node);
    if (atBottom && seen.size > 1) node.scrollIntoView({ block: "nearest" });
  }

  function message(evt) {
    const d = evt.details || {};
    const who = evt.event_type === "user_message" ? "user" : "devin";
    const body = cy.el("div", { class: "body" }, cy.el("p", { text: d.message || evt.summary }));
    const card = cy.el("article", { class: "msg " + who, "data-event": evt.event_id },
      cy.el("div", { class: "who", text: (who === "user" ? "You" : "Agent") + " · " + cy.when(evt.created_at) }), body);
    append(card);
    const item = { text: d.message || evt.summary, body: body, card: card };
    if ((d.truncated || []).includes("message")) item.full = { source: who, created_at: evt.created_at };
    pending.push(item);
    clearTimeout(renderTimer);
    renderTimer = setTimeout(renderPending, 30);
  }

  async function fullTexts(items) {
    // A message longer than an event's details keeps only its head and tail there: read it whole.
    if (!items.some((i) => i.full)) return;
    const all = [];
    let after = null;
    do {
      const page = await cy.api(cy.orgPath(org, "/sessions/" + SESSION_ID + "/messages?first=200" + (after ? "&after=" + encodeURIComponent(after) : "")));
      all.push(...page.items);
      after = page.has_next_page ? page.end_cursor : null;
    } while (after);
    for (const item of items) {
      if (!item.full) continue;
      const head = item.text.slice(0, 200);
      const match = all.find((m) => m.source === item.full.source && m.created_at === item.full.created_at && m.message.startsWith(head));
      if (match) item.text = match.message;
    }
  }

  async function renderPending() {
    const items = pending.splice(0, pending.length);
    if (!items.length) return;
    try {
      await fullTexts(items);
      const result = await cy.api("/web/render", { method: "POST", body: { texts: items.map((i) => i.text) } });
      result.items.forEach((r, n) => {
        // The server sanitised this HTML (markdown-it-py, then nh3 with an allowlist).
        items[n].body.innerHTML = r.html;
        if (r.handoff) items[n].card.append(handoffCard(r.handoff));
      });
    } catch (err) { /* the plain text stays */ }
  }

  function handoffCard(h) {
    const dl = cy.el("dl");
    const row = (name, value) => { if (value) dl.append(cy.el("dt", { text: name }), cy.el("dd", { text: value })); };
    row("Repository", h.repo || "(no remote: the history travels in a bundle)");
    row("Branch", h.branch);
    row("Base", h.base_sha && h.base_sha.slice(0, 12));
    row("Head", h.head_sha && h.head_sha.slice(0, 12));
    const list = (title, items) => items.length
      ? [cy.el("div", { class: "muted", text: title + " (" + items.length + ")" }), cy.el("ul", {}, ...items.map((t) => cy.el("li", { text: t })))]
      : [cy.el("div", { class: "muted", text: title + ": none" })];
    return cy.el("div", { class: "handoff" }, cy.el("strong", { text: "Handed-off work" }), dl,
      ...list("Commits", h.commits || []), ...list("Changed files", h.files || []),
      ...(h.notes || []).map((n) => cy.el("div", { class: "muted", text: n })));
  }

  function diffBlock(text) {
    const pre = cy.el("pre", { class: "diff" });
    for (const line of text.replace(/\n$/, "").split("\n")) {
      const kind = line.startsWith("+++") || line.startsWith("---") ? "" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
      pre.append(cy.el("span", { class: kind, text: line + "\n" }));
    }
    return pre;
  }

  function step(evt) {
    const d = evt.details || {};
    let what = evt.summary;
    let how = "";
    let bad = false;
    const out = cy.el("div", { class: "out" });
    if (evt.event_type === "command_run" || d.command !== undefined && d.output !== undefined) {
      what = "$ " + (d.command || evt.summary.replace(/^\$ /, ""));
      if (d.timed_out) { how = "timed out"; bad = true; }
      else if (d.cancelled) { how = "stopped"; bad = true; }
      else if (d.exit_code !== undefined && d.exit_code !== null) { how = "exit " + d.exit_code; bad = d.exit_code !== 0; }
      if (d.duration_s !== undefined) how += " · " + Number(d.duration_s).toFixed(1) + " s";
      if (d.cwd) out.append(cy.el("div", { class: "muted", text: "in " + d.cwd }));
      out.append(cy.el("pre", { text: d.output === undefined || d.output === "" ? "(no output)" : d.output }));
    } else if (d.diff) {
      out.append(diffBlock(d.diff));
    } else {
      const rest = Object.fromEntries(Object.entries(d).filter(([k]) => k !== "truncated"));
      if (Object.keys(rest).length) out.append(cy.el("pre", { text: JSON.stringify(rest, null, 2) }));
    }
    if (d.truncated && d.truncated.length) out.append(cy.el("div", { class: "muted", text: "Cut to fit: " + d.truncated.join(", ") }));
    const summary = cy.el("summary", {},
      cy.el("span", { class: "what", text: what }),
      how ? cy.el("span", { class: "how" + (bad ? " bad" : ""), text: how }) : null);
    const node = cy.el("details", { class: "step " + evt.category, "data-event": evt.event_id, "data-type": evt.event_type }, summary);
    if (out.childNodes.length) node.append(out);
    append(node);
  }

  function statusLine(evt) {
    const d = evt.details || {};
    const text = d.status ? "— " + d.status + (d.status_detail ? " / " + d.status_detail.replace(/_/g, " ") : "") + " —" : evt.summary;
    append(cy.el("div", { class: "status-line", "data-event": evt.event_id, text: text }));
  }

  function handle(evt) {
    if (!evt.data) return;
    let e;
    try { e = JSON.parse(evt.data); } catch (err) { return; }
    if (seen.has(e.event_id)) return;
    seen.add(e.event_id);
    if (e.category === "message" && (e.event_type === "user_message" || e.event_type === "devin_message")) message(e);
    else if (e.event_type === "status_changed") { statusLine(e); refreshSoon(); }
    else if (e.category === "lifecycle" && (e.event_type === "session_created" || e.event_type === "session_archived" || e.event_type === "session_terminated")) { refreshSoon(); }
    else {
      step(e);
      if (e.event_type === "file_attached" || e.category === "git") refreshSoon();
      else if (e.event_type === "command_run" || (e.details && e.details.diff)) changesSoon();  // a commit, an edit
    }
  }

  // -- the live stream ------------------------------------------------------------------------------------------
  async function follow() {
    if (streaming) return;
    const controller = new AbortController();
    streaming = controller;
    let wait = 1000;
    const live = $("live");
    try {
      for (;;) {
        live.textContent = "live";
        live.classList.add("on");
        try {
          await cy.readStream(cy.orgPath(org, "/sessions/" + SESSION_ID + "/stream"), lastEventId, (evt) => {
            if (evt.id) lastEventId = evt.id;
            wait = 1000;
            handle(evt);
          }, controller.signal);
        } catch (err) {
          if (controller.signal.aborted) return;
          if (err.status === 401 || err.status === 404 || err.status === 403) { failed(err); return; }
        }
        if (controller.signal.aborted) return;
        await refresh();
        if (session && FINAL.has(session.status)) return;  // the stream ended with the session; a reply reopens it
        live.textContent = "reconnecting…";
        live.classList.remove("on");
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, 10000);
      }
    } finally {
      if (streaming === controller) {
        streaming = null;
        live.textContent = session && FINAL.has(session.status) ? "ended" : "offline";
        live.classList.remove("on");
      }
    }
  }

  // -- actions ----------------------------------------------------------------------------------------------------
  function twoStep(button, label, confirmLabel, action) {
    let armed = null;
    button.addEventListener("click", async () => {
      if (!armed) {
        button.textContent = confirmLabel;
        armed = setTimeout(() => { armed = null; button.textContent = label; }, 5000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      button.textContent = label;
      button.disabled = true;
      $("action-error").textContent = "";
      try { showSession(await action()); } catch (err) { $("action-error").textContent = err.message; button.disabled = false; }
    });
  }

  async function send(e) {
    e.preventDefault();
    const text = $("reply").value;
    if (!text.trim()) return;
    $("send").disabled = true;
    $("action-error").textContent = "";
    try {
      showSession(await cy.api(cy.orgPath(org, "/sessions/" + SESSION_ID + "/messages"), { method: "POST", body: { message: text } }));
      $("reply").value = "";
      follow();
    } catch (err) {
      $("action-error").textContent = "Not sent: " + err.message;
    } finally {
      $("send").disabled = $("reply").disabled;
      $("reply").focus();
    }
  }

  // -- start --------------------------------------------------------------------------------------------------------
  async function findOrg(who) {
    if (!who.orgs) return who.org;
    for (const o of who.orgs) {
      try { await cy.api(cy.orgPath(o.org_id, "/sessions/" + SESSION_ID)); return o.org_id; } catch (err) { /* next */ }
    }
    const err = new Error("not found");
    err.status = 404;
    throw err;
  }

  async function start() {
    if (!cy.key()) { cy.keyForm($("gate"), null, start); return; }
    try {
      const who = await cy.whoami();
      org = await findOrg(who);
      $("who").textContent = who.me.service_user_name || who.me.service_user_id;
      showSession(await cy.api(cy.orgPath(org, "/sessions/" + SESSION_ID)));
      $("gate").replaceChildren();
      $("content").hidden = false;
      $("forget").hidden = false;
      refresh();
      follow();
    } catch (err) { failed(err); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("forget").addEventListener("click", () => { cy.forget(); window.location.reload(); });
    $("reply-form").addEventListener("submit", send);
    $("reply").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(e); });
    twoStep($("stop"), "Stop", "Really stop?", () => cy.api(cy.orgPath(org, "/sessions/" + SESSION_ID), { method: "DELETE" }));
    twoStep($("archive"), "Archive", "Really archive?", () => cy.api(cy.orgPath(org, "/sessions/" + SESSION_ID + "/archive"), { method: "POST" }));
    start();
  });
})();
