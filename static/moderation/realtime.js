// The room page follows its room over the realtime link (docs/realtime.md): MQTT 5 over a
// WebSocket to the broker, subscribed to the room's admin topic. Each array the server
// publishes there refreshes the live regions it concerns at once, and while the link is
// up the regions' 3-second polls are skipped (console.js). Without the link (no broker,
// refused, no JavaScript) the page polls as it always has. Inert on other pages; loaded on
// every page because hx-boost swaps pages in without running their scripts.
(function () {
  "use strict";

  var REFRESH_DELAY_MS = 200; // a burst of arrays costs one refresh per region
  var RETRY_FIRST_MS = 2000; // then doubling, while credentials or connections are refused
  var RETRY_MAX_MS = 60000;
  // A tab in the background refreshes nothing (console.js): after a minute hidden, it
  // lets go of its connection, and takes a new one when it is looked at again.
  var HIDDEN_CLOSE_MS = 60000;
  var LABELS = {
    connected: ["Live", "Updates arrive as they happen, over the realtime link"],
    polling: ["Live (polling)", "The realtime link is down: refreshing every 3 seconds"],
  };

  // The live region (data-live) an InteractionMessage changes.
  function regionsFor(message) {
    var type = String(message && message.type).replace("INTERACTION_TYPE_", "");
    if (type.indexOf("POLL_") === 0) {
      return ["poll"];
    }
    if (type === "CUSTOM_COUNTER_UPDATE" || type.indexOf("VIEWER_INFO_") === 0) {
      return ["stats"];
    }
    if (type === "CUSTOM") {
      var custom = message.custom_message;
      return custom && custom.incr ? ["feed", "stats"] : ["feed"];
    }
    if (type === "TEXT" && message.text_message && message.text_message.filtered) {
      return ["feed", "held", "review"]; // held by the word filter: its counts and queue
    }
    if (type === "MUTE" || type === "UNMUTE") {
      return []; // shown in the page's heading, which is not live
    }
    return ["feed"]; // messages, deletes, pins, blocks
  }

  var scheduled = {};
  function refresh(names) {
    names.forEach(function (name) {
      if (scheduled[name]) {
        return;
      }
      scheduled[name] = setTimeout(function () {
        delete scheduled[name];
        var region = document.querySelector('[data-live="' + name + '"]');
        if (region && window.htmx) {
          window.htmx.trigger(region, "realtime");
        }
      }, REFRESH_DELAY_MS);
    });
  }

  // The link's state lives on <html> (which hx-boost never swaps): "connected",
  // "polling", or absent while unknown. console.js reads it to skip timed polls.
  function setState(state) {
    var root = document.documentElement;
    if (state) {
      root.setAttribute("data-realtime", state);
    } else {
      root.removeAttribute("data-realtime");
    }
    showState();
  }

  function showState() {
    var label = LABELS[document.documentElement.getAttribute("data-realtime")];
    if (!label) {
      return; // the page's own "Live" until the first connect or failure
    }
    document.querySelectorAll(".live-indicator").forEach(function (indicator) {
      indicator.textContent = label[0];
      indicator.title = label[1];
      indicator.classList.toggle("is-polling", label === LABELS.polling);
    });
  }

  var clientScript = null;
  function loadClient(src) {
    if (!clientScript) {
      clientScript = new Promise(function (resolve, reject) {
        if (window.mqtt) {
          resolve();
          return;
        }
        var script = document.createElement("script");
        script.src = src;
        script.onload = resolve;
        script.onerror = function () {
          clientScript = null;
          reject(new Error("the MQTT client did not load"));
        };
        document.head.appendChild(script);
      });
    }
    return clientScript;
  }

  // One room page's link: a credential from the console, then mqtt.js with it.
  function Link(hook) {
    this.endpoint = hook.getAttribute("data-realtime-endpoint");
    this.clientSrc = hook.getAttribute("data-realtime-client");
    this.client = null;
    this.timer = null; // the next credential fetch: a retry, or a renewal before expiry
    this.retryMs = RETRY_FIRST_MS;
    this.closed = false; // for good: the page has gone
    this.paused = false; // while the tab is hidden
  }

  Link.prototype.active = function () {
    return !this.closed && !this.paused;
  };

  Link.prototype.open = function () {
    var self = this;
    clearTimeout(self.timer);
    fetch(self.endpoint, {
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error", // signed out: the sign-in page is no credential
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("no realtime credential: HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (credential) {
        return loadClient(self.clientSrc).then(function () {
          self.connect(credential);
        });
      })
      .catch(function () {
        self.retry();
      });
  };

  Link.prototype.connect = function (credential) {
    var self = this;
    if (!self.active()) {
      return;
    }
    self.drop();
    var client = window.mqtt.connect(credential.url, {
      protocolVersion: 5,
      clientId: credential.client_id,
      username: "console",
      password: credential.token,
      clean: true,
      keepalive: 60,
      connectTimeout: 5000,
      reconnectPeriod: 3000, // after a dropped connection, with the same token
      resubscribe: false, // subscribed on every connect, below
      // mqtt.js would keep time in a blob: worker, which the CSP refuses. Plain timers
      // are throttled in background tabs, but by then the link is paused (below).
      timerVariant: "native",
    });
    self.client = client;
    // A client dropped for a new one may still report: ignore it.
    function on(event, handler) {
      client.on(event, function () {
        if (self.client === client) {
          handler.apply(null, arguments);
        }
      });
    }
    on("connect", function () {
      client.subscribe(credential.topic, { qos: 0 }, function (error) {
        if (self.client !== client) {
          return;
        }
        if (error) {
          self.retry();
          return;
        }
        self.retryMs = RETRY_FIRST_MS;
        setState("connected");
        refresh(["feed", "poll", "stats", "held", "review"]); // whatever changed before the subscription
      });
    });
    on("message", function (_topic, payload) {
      var messages;
      try {
        messages = JSON.parse(payload.toString());
      } catch (_error) {
        return;
      }
      if (Array.isArray(messages)) {
        refresh([].concat.apply([], messages.map(regionsFor)));
      }
    });
    on("close", function () {
      setState("polling"); // mqtt.js reconnects by itself
    });
    // A refused CONNECT (0x87: the token expired or is no longer good) is not retried by
    // mqtt.js, and a session the server ends (its token ran out) would be refused next.
    on("error", function (error) {
      if (typeof error.code === "number") {
        self.retry();
      }
    });
    on("disconnect", function () {
      self.retry();
    });
    // Change to a fresh token a minute before this one runs out.
    var renewSeconds = Math.max(credential.expires_in - 60, credential.expires_in / 2);
    self.timer = setTimeout(self.open.bind(self), renewSeconds * 1000);
  };

  Link.prototype.retry = function () {
    if (!this.active()) {
      return;
    }
    this.drop();
    setState("polling");
    this.timer = setTimeout(this.open.bind(this), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  };

  Link.prototype.drop = function () {
    clearTimeout(this.timer);
    if (this.client) {
      var client = this.client;
      this.client = null;
      client.end(true);
    }
  };

  Link.prototype.close = function () {
    this.closed = true;
    this.drop();
    setState(null);
  };

  Link.prototype.pause = function () {
    this.paused = true;
    this.drop();
    setState(null);
  };

  Link.prototype.resume = function () {
    if (this.paused) {
      this.paused = false;
      this.retryMs = RETRY_FIRST_MS;
      this.open();
    }
  };

  // Start, keep or end the link as pages come and go (hx-boost swaps them in place).
  var link = null;
  function sync() {
    var hook = document.querySelector("[data-realtime-endpoint]");
    var endpoint = hook && hook.getAttribute("data-realtime-endpoint");
    if (link && link.endpoint !== endpoint) {
      link.close();
      link = null;
    }
    if (!link && hook && window.fetch && window.WebSocket) {
      link = new Link(hook);
      link.open();
    }
    showState();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", sync);
  } else {
    sync();
  }
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("htmx:historyRestore", sync);

  var hiddenTimer = null;
  document.addEventListener("visibilitychange", function () {
    clearTimeout(hiddenTimer);
    if (!link) {
      return;
    }
    if (!document.hidden) {
      link.resume();
      return;
    }
    hiddenTimer = setTimeout(function () {
      if (link) {
        link.pause();
      }
    }, HIDDEN_CLOSE_MS);
  });
})();
