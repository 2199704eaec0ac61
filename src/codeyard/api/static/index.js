// The sessions list at "/": newest first, refreshed while the page is open.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let org = null;
  let cursor = null;
  let timer = null;
  let expanded = false;

  function item(s) {
    const hex = s.session_id.replace(/^devin-/, "");
    const tags = (s.tags || []).map((t) => cy.el("span", { class: "tag", text: t }));
    return cy.el("li", {},
      cy.el("a", { href: "/sessions/" + hex },
        cy.el("span", { class: "title", text: s.title || s.session_id }),
        cy.statusBadge(s),
        cy.el("span", { class: "meta muted" },
          cy.when(s.created_at) + " · " + (s.origin || "api") + (s.acus_consumed >= 0.005 ? " · " + s.acus_consumed.toFixed(2) + " ACU" : "") + " ",
          ...tags)));
  }

  async function load(more) {
    const query = "?first=50" + (more && cursor ? "&after=" + encodeURIComponent(cursor) : "");
    const page = await cy.api(cy.orgPath(org, "/sessions" + query));
    const list = $("sessions");
    if (!more) list.replaceChildren();
    for (const s of page.items) list.append(item(s));
    cursor = page.end_cursor;
    $("more").hidden = !page.has_next_page;
    $("empty").hidden = list.children.length > 0;
    $("count").textContent = page.total === null || page.total === undefined ? "" : page.total + " in all";
  }

  function refused(err) {
    clearInterval(timer);
    $("content").hidden = true;
    $("forget").hidden = true;
    const message = err.status === 401
      ? "This key was refused (it is unknown, revoked or expired). Enter another key."
      : err.status === 403 ? "This key may not list sessions here: " + err.message
      : "The server could not be reached: " + err.message;
    if (err.status === 401 || err.status === 403) cy.forget();
    cy.keyForm($("gate"), message, start);
  }

  async function start() {
    if (!cy.key()) { cy.keyForm($("gate"), null, start); return; }
    try {
      const who = await cy.whoami();
      org = who.org;
      $("who").textContent = who.me.service_user_name || who.me.service_user_id;
      if (who.orgs) {
        const select = $("org");
        select.replaceChildren(...who.orgs.map((o) => cy.el("option", { value: o.org_id, text: o.name || o.org_id, selected: o.org_id === org })));
        select.hidden = false;
        $("org-label").hidden = false;
      }
      $("gate").replaceChildren();
      $("forget").hidden = false;
      $("content").hidden = false;
      await load(false);
      clearInterval(timer);
      timer = setInterval(() => { if (!expanded) load(false).catch(() => {}); }, 5000);
    } catch (err) { refused(err); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("more").addEventListener("click", () => { expanded = true; load(true).catch(refused); });
    $("forget").addEventListener("click", () => { cy.forget(); window.location.reload(); });
    $("org").addEventListener("change", (e) => { cy.chooseOrg(e.target.value); org = e.target.value; cursor = null; expanded = false; load(false).catch(refused); });
    start();
  });
})();
