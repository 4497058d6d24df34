// Moderation console: small enhancements on top of htmx. Every page works without this file.
(function () {
  "use strict";

  // A live region (data-live) refreshes every few seconds, and at once when the realtime
  // link says it changed (realtime.js); while the link is up, the timed refreshes are
  // skipped. Skip any refresh while the moderator is using a control inside the region
  // (typing a block reason, a menu is open), so nothing they are doing disappears under
  // them; the next timed one catches up when they are done.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var region = event.detail.elt;
    if (!region || !region.hasAttribute || !region.hasAttribute("data-live")) {
      return;
    }
    // htmx's "every 3s" polls carry no triggering event; realtime refreshes do.
    var timed = !event.detail.requestConfig.triggeringEvent;
    var linked = document.documentElement.getAttribute("data-realtime") === "connected";
    if (timed && linked && !region.hasAttribute("data-missed")) {
      event.preventDefault();
      return;
    }
    // The feed (data-buffered) fetches even then: feed.js keeps the answer out of the page
    // while the moderator is on it, and counts what is new.
    var active = document.activeElement;
    var busy =
      !region.hasAttribute("data-buffered") &&
      ((active && active !== document.body && region.contains(active)) ||
        region.querySelector("details[open]") !== null);
    region.classList.toggle("is-paused", busy);
    // A tab in the background has nobody looking at it: refresh when it is visible again.
    if (busy || document.hidden) {
      region.setAttribute("data-missed", "");
      event.preventDefault();
      return;
    }
    region.removeAttribute("data-missed");
  });

  // After an action, the page is swapped in place: put keyboard focus back where the
  // moderator was (the message or panel the form sat in), without scrolling.
  var lastPlace = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.tagName === "FORM" && form.method === "post") {
      var place = form.closest("[id]");
      lastPlace = place ? { id: place.id, page: location.pathname } : null;
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (lastPlace === null) {
      return;
    }
    var samePage = lastPlace.page === location.pathname;
    var place = document.getElementById(lastPlace.id);
    lastPlace = null;
    var active = document.activeElement;
    if (!samePage || !place || (active && active !== document.body)) {
      return;
    }
    var control = place.querySelector("button, summary, a[href], input:not([type=hidden])");
    if (control) {
      control.focus({ preventScroll: true });
    }
  });

  // Escape closes an open popover menu and returns focus to its button.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    var open = document.querySelectorAll("details.popover[open], details.usermenu[open]");
    open.forEach(function (details) {
      details.removeAttribute("open");
      var summary = details.querySelector("summary");
      if (summary && details.contains(document.activeElement)) {
        summary.focus();
      }
    });
  });

  // Opening one popover closes the others; clicking outside closes them all.
  document.addEventListener("click", function (event) {
    document
      .querySelectorAll("details.popover[open], details.usermenu[open]")
      .forEach(function (details) {
        if (!details.contains(event.target)) {
          details.removeAttribute("open");
        }
      });
  });

  // When a popover opens, put the cursor in its first field.
  document.addEventListener(
    "toggle",
    function (event) {
      var details = event.target;
      if (details.matches && details.matches("details.popover") && details.open) {
        var field = details.querySelector("input:not([type=hidden]), select, button");
        if (field) {
          field.focus();
        }
      }
    },
    true
  );

  // User cards: a user's link (hx-get into #card-body) opens the card in the page's
  // dialog, without leaving the page; Escape or "Close" shuts it and focus goes back to
  // the link. Without JavaScript the same link is the card's own page.
  var cardOpener = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var link = event.detail.elt;
    if (link && link.classList && link.classList.contains("user-link")) {
      cardOpener = link;
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "card-body") {
      return;
    }
    var dialog = document.getElementById("card-dialog");
    if (dialog && !dialog.open && dialog.showModal) {
      dialog.showModal();
    }
    var title = document.getElementById("card-title");
    if (title) {
      title.focus({ preventScroll: true });
    }
  });
  document.addEventListener(
    "close",
    function (event) {
      if (event.target.id !== "card-dialog") {
        return;
      }
      event.target.querySelector("#card-body").textContent = "";
      if (cardOpener && document.contains(cardOpener)) {
        cardOpener.focus({ preventScroll: true });
      }
      cardOpener = null;
    },
    true
  );
  // A click on the backdrop (outside the card) closes it too.
  document.addEventListener("click", function (event) {
    var dialog = event.target;
    if (dialog && dialog.id === "card-dialog" && dialog.open) {
      dialog.close();
    }
  });

  // "Copy" buttons: data-copy names the element whose value (or text) to copy.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) {
      return;
    }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    var text = source.value;
    if (typeof source.select === "function") {
      source.select();
    } else {
      // Not a form field (a room id in a <code>): copy its text.
      text = source.textContent.trim();
    }
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = "Copied";
      });
    }
  });
})();
