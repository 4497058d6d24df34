// The room page's feed for people working fast: keyboard shortcuts that act on a selected
// message, and a feed that holds still while the moderator is on it. Inert on other pages;
// loaded on every page because hx-boost swaps pages in without running their scripts.
//
// Shortcuts only press the message's own buttons (Pin, Delete, Block…, the sender's
// link), so the server decides what is allowed and the confirmations are the usual ones.
//
// Pausing: the feed region (#feed-live, data-buffered) keeps fetching the newest page as
// it always has (console.js, realtime.js), but while the moderator is on it (the pointer
// over it, a message selected, a menu or control in it in use, a dialog open, or paused
// with the pause key) the answer is not swapped in: it only counts the messages that are
// not on the page yet, for the "N new messages" button. Resuming fetches the newest page
// again and swaps it in, so every message arrives once, in order, whatever arrived while
// paused.
(function () {
  "use strict";

  var selectedId = null; // the id of the selected message's <li>, e.g. "m-42"
  var held = false; // paused with the pause key
  var hovered = false; // the pointer is over the feed panel
  var flushing = false; // the next swap of the feed is the one asked for: let it in
  var lastAnnounced = "";

  function region() {
    return document.getElementById("feed-live");
  }

  function panel() {
    return document.getElementById("feed");
  }

  function messages() {
    var feed = panel();
    return feed ? Array.prototype.slice.call(feed.querySelectorAll("li.msg")) : [];
  }

  function selected() {
    var item = selectedId && document.getElementById(selectedId);
    return item && item.matches("#feed li.msg") ? item : null;
  }

  function announce(text) {
    var live = document.getElementById("feed-announce");
    if (live && text !== lastAnnounced) {
      lastAnnounced = text;
      live.textContent = text;
    }
  }

  // --- Pausing ---------------------------------------------------------------------

  function pauseReasons() {
    var feed = region();
    if (!feed) {
      return [];
    }
    var reasons = [];
    if (held) {
      reasons.push("paused");
    }
    if (hovered) {
      reasons.push("pointer over the feed");
    }
    if (selected()) {
      reasons.push("a message is selected");
    }
    var active = document.activeElement;
    if (
      (active && active !== document.body && feed.contains(active)) ||
      feed.querySelector("details[open]")
    ) {
      reasons.push("you are acting on a message");
    }
    if (document.querySelector("dialog[open]")) {
      reasons.push("a dialog is open");
    }
    return reasons;
  }

  function pending() {
    var feed = region();
    return feed ? Number(feed.getAttribute("data-pending") || 0) : 0;
  }

  function showPending(count, more) {
    var feed = region();
    var button = document.querySelector("[data-feed-resume]");
    if (!feed) {
      return;
    }
    if (count > 0) {
      feed.setAttribute("data-pending", String(count));
    } else {
      feed.removeAttribute("data-pending");
    }
    if (button) {
      var label = count + (more ? "+" : "") + " new message" + (count === 1 ? "" : "s");
      button.hidden = count === 0;
      button.querySelector("[data-feed-count]").textContent = label;
      if (count > 0) {
        announce(label + " while the feed is paused");
      }
    }
  }

  function update() {
    var feed = panel();
    if (!feed || !region()) {
      return;
    }
    var reasons = pauseReasons();
    var paused = reasons.length > 0;
    feed.classList.toggle("is-paused", paused);
    var indicator = document.querySelector("[data-feed-paused]");
    if (indicator) {
      indicator.hidden = !paused;
      indicator.title = paused ? "Paused: " + reasons.join(", ") : "";
    }
    if (!paused && pending() > 0 && !flushing) {
      resume();
    }
  }

  // Show what arrived: fetch the newest page and swap it in, paused or not.
  function resume() {
    var feed = region();
    held = false;
    if (feed && window.htmx) {
      flushing = true;
      window.htmx.trigger(feed, "realtime");
    }
    update();
  }

  function togglePause() {
    if (!region()) {
      return; // paged back through history: nothing is live
    }
    if (pending() > 0) {
      resume();
      announce("Showing the new messages");
      return;
    }
    held = !held;
    update();
    announce(held ? "Feed paused" : "Feed resumed");
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var feed = region();
    if (!feed || event.detail.target !== feed || event.detail.elt !== feed) {
      return;
    }
    if (flushing || pauseReasons().length === 0) {
      flushing = false;
      return; // swapped in; the counter goes with the old content (htmx:afterSwap)
    }
    event.detail.shouldSwap = false;
    if (event.detail.xhr.status !== 200) {
      return;
    }
    var page = document.createElement("template");
    page.innerHTML = event.detail.serverResponse;
    var arrived = page.content.querySelectorAll("li.msg[id]");
    var fresh = 0;
    arrived.forEach(function (item) {
      if (!document.getElementById(item.id)) {
        fresh += 1;
      }
    });
    // Every message on the newest page is new, and there are older ones: there may be more.
    var more = fresh > 0 && fresh === arrived.length && page.content.querySelector(".feed-more");
    showPending(fresh, Boolean(more));
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target === region()) {
      showPending(0, false);
      lastAnnounced = "";
      restoreSelection();
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    restoreSelection();
    update();
  });

  // A mouse or pen moved over the feed; a finger's tap is no hover, and neither is a page
  // swapped in under a pointer that has not moved since (the room link just clicked).
  document.addEventListener("pointermove", function (event) {
    if (event.pointerType === "touch") {
      return;
    }
    var over = Boolean(event.target.closest && event.target.closest("#feed"));
    if (over !== hovered) {
      hovered = over;
      update();
    }
  });
  document.documentElement.addEventListener("pointerleave", function () {
    hovered = false;
    update();
  });
  document.addEventListener("focusin", update);
  document.addEventListener("focusout", function () {
    setTimeout(update, 0);
  });
  document.addEventListener("toggle", update, true);
  document.addEventListener("close", update, true);

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-feed-resume]")) {
      resume();
    }
    if (event.target.closest && event.target.closest("[data-keys-open]")) {
      openKeys();
    }
    // A click on a message while one is selected moves the selection there.
    var item = event.target.closest && event.target.closest("#feed li.msg");
    if (item && selectedId && item.id !== selectedId) {
      select(item, false);
    }
    // A click on the backdrop (outside the overlay) closes it.
    if (event.target.id === "keys-dialog" && event.target.open) {
      event.target.close();
    }
  });

  // --- Selection -------------------------------------------------------------------

  function mark(item) {
    messages().forEach(function (other) {
      if (other !== item) {
        other.removeAttribute("aria-current");
        other.classList.remove("is-selected");
        other.removeAttribute("tabindex");
      }
    });
    if (item) {
      item.setAttribute("aria-current", "true");
      item.classList.add("is-selected");
      item.setAttribute("tabindex", "0");
    }
  }

  function select(item, focus) {
    selectedId = item ? item.id : null;
    mark(item);
    if (item && focus) {
      item.focus({ preventScroll: true });
      item.scrollIntoView({ block: "nearest" });
    }
    update();
  }

  // After the feed or the page is swapped, the selected message is a new element.
  function restoreSelection() {
    if (!selectedId) {
      return;
    }
    var item = selected();
    if (!item) {
      selectedId = null;
      return;
    }
    mark(item);
    var active = document.activeElement;
    if (!active || active === document.body || !document.contains(active)) {
      item.focus({ preventScroll: true });
    }
  }

  function move(step) {
    var items = messages();
    if (!items.length) {
      return;
    }
    var index = items.indexOf(selected());
    var next = index < 0 ? 0 : Math.min(Math.max(index + step, 0), items.length - 1);
    select(items[next], true);
  }

  // Press the selected message's control for a shortcut (data-key in message.html).
  function press(key, what) {
    var item = selected();
    if (!item) {
      announce("Select a message first: press j");
      return;
    }
    var control = item.querySelector('[data-key="' + key + '"]');
    if (!control) {
      announce("This message cannot be " + what);
      return;
    }
    // Just after a swap, htmx may not have set up the new controls yet.
    if (window.htmx) {
      window.htmx.process(item);
    }
    control.click();
  }

  function openKeys() {
    var dialog = document.getElementById("keys-dialog");
    if (dialog && !dialog.open && dialog.showModal) {
      dialog.showModal();
    }
  }

  function typing(target) {
    return Boolean(
      target &&
        target.closest &&
        (target.isContentEditable || target.closest("input, textarea, select, [contenteditable]"))
    );
  }

  document.addEventListener("keydown", function (event) {
    if (!panel() || event.defaultPrevented || event.isComposing) {
      return;
    }
    var target = event.target;
    if (event.key === "Escape") {
      // Menus and dialogs close themselves (console.js, the browser); otherwise Escape
      // lets go of the selected message.
      var onSelection = target === selected() || target === document.body || target.id === "main";
      if (selectedId && onSelection && !document.querySelector("dialog[open]")) {
        select(null, false);
        announce("No message selected");
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (document.querySelector("dialog[open]") || typing(target)) {
      return;
    }
    // Enter and space keep their usual meaning on links, buttons and menus.
    var onControl =
      target.closest && target.closest("a[href], button, summary, [role=button]") !== null;
    var handled = true;
    switch (event.key) {
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "p":
        press("p", "pinned");
        break;
      case "d":
        press("d", "deleted");
        break;
      case "b":
        press("b", "blocked from here");
        break;
      case "u":
        press("u", "traced to a user");
        break;
      case "Enter":
        if (onControl) {
          return;
        }
        press("u", "traced to a user");
        break;
      case " ":
        if (onControl) {
          return;
        }
        togglePause();
        break;
      case ".":
        togglePause();
        break;
      case "?":
        openKeys();
        break;
      default:
        handled = false;
    }
    if (handled) {
      event.preventDefault();
    }
  });

  var startedOn = location.pathname; // the page last set up
  function start() {
    if (!document.getElementById("feed")) {
      hovered = false;
    }
    if (location.pathname !== startedOn) {
      startedOn = location.pathname;
      held = false; // another page: a pause does not follow the moderator around
    }
    document.querySelectorAll("[data-keys-hint]").forEach(function (hint) {
      hint.hidden = false;
    });
    update();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  document.addEventListener("htmx:afterSettle", start);
})();
