// vigie console: live updates, forms posted in the background, SLA countdowns, keyboard
// shortcuts and opt-in notifications. Every action is also a plain form post: without
// this script the pages work the same, only less live.
"use strict";
(function () {
  var body = document.body;
  var store = window.localStorage;
  var seen = null; // ids of the tickets shown, to tell new ones
  var selected = -1;
  var refreshTimer = null;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $$(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }
  function announce(text) { var el = $("#announce"); if (el) { el.textContent = text; } }
  function setting(name) { try { return store.getItem("vigie." + name) === "on"; } catch (e) { return false; } }
  function setSetting(name, on) { try { store.setItem("vigie." + name, on ? "on" : "off"); } catch (e) { /* private mode */ } }

  // -- swapping a region for the same region of a freshly fetched page --
  function parse(html) { return new DOMParser().parseFromString(html, "text/html"); }

  function keepTyping(region) {
    // What the person typed or ticked, by element id, put back after the swap.
    var kept = {};
    $$("input, textarea, select", region).forEach(function (el) {
      if (!el.id && el.name !== "ids") { return; }
      var key = el.id || "ids:" + el.value;
      if (el.type === "checkbox") { kept[key] = el.checked; } else if (el.value !== el.defaultValue) { kept[key] = el.value; }
    });
    return kept;
  }

  function restore(region, kept, focusId) {
    $$("input, textarea, select", region).forEach(function (el) {
      var key = el.id || "ids:" + el.value;
      if (!(key in kept)) { return; }
      if (el.type === "checkbox") { el.checked = kept[key]; } else { el.value = kept[key]; }
    });
    if (focusId) { var el = document.getElementById(focusId); if (el) { el.focus(); } }
  }

  function swap(doc, ids) {
    ids.forEach(function (id) {
      var now = document.getElementById(id), next = doc.getElementById(id);
      if (now && next) {
        var kept = keepTyping(now);
        var focusId = document.activeElement && now.contains(document.activeElement) ? document.activeElement.id : "";
        now.replaceWith(next);
        restore(next, kept, focusId);
      }
    });
    if (doc.title) { document.title = doc.title; }
    afterSwap();
  }

  function refresh() {
    refreshTimer = null;
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html) { swap(parse(html), ["live"]); announce("Updated."); } })
      .catch(function () { /* the next event tries again */ });
  }

  function scheduleRefresh() {
    if (!refreshTimer) { refreshTimer = setTimeout(refresh, 200); }
  }

  // -- live: the ticket event stream --
  function follow() {
    var url = body.getAttribute("data-live");
    if (!url || !window.EventSource || !$("#live")) { return; }
    var ticketPage = $("#live").getAttribute("data-ticket");
    var source = new EventSource(url);
    source.addEventListener("ticket", function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (ticketPage && event.ticket_id !== ticketPage && !$('[data-id="' + CSS.escape(event.ticket_id) + '"]')) {
        return; // another ticket's change, not shown on this page
      }
      scheduleRefresh();
    });
  }

  function noteNewTickets() {
    var rows = $$("tr.ticket[data-id], li.ticket[data-id]");
    var ids = rows.map(function (row) { return row.getAttribute("data-id"); });
    if (seen !== null) {
      rows.forEach(function (row) {
        var id = row.getAttribute("data-id");
        if (seen.indexOf(id) >= 0) { return; }
        row.classList.add("fresh");
        if (Number(row.getAttribute("data-severity")) <= 2) { alertPerson(id, row); }
      });
    }
    seen = ids;
  }

  function alertPerson(id, row) {
    var link = $("a", row);
    var title = link ? link.textContent : id;
    if (setting("notify") && window.Notification && Notification.permission === "granted") {
      var note = new Notification("vigie: new S" + row.getAttribute("data-severity") + " incident", { body: title, tag: id });
      note.onclick = function () { window.focus(); location.href = "/console/tickets/" + encodeURIComponent(id); };
    }
    if (setting("sound")) { beep(); }
    announce("New severity " + row.getAttribute("data-severity") + " incident: " + title);
  }

  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    var context = new Context(), tone = context.createOscillator(), gain = context.createGain();
    tone.frequency.value = 880; gain.gain.value = 0.1;
    tone.connect(gain); gain.connect(context.destination);
    tone.start(); tone.stop(context.currentTime + 0.25);
  }

  // -- forms posted in the background --
  function onSubmit(event) {
    var form = event.target;
    if (form.method !== "post" || form.hasAttribute("data-plain")) { return; }
    event.preventDefault();
    var submitter = event.submitter || null;
    var action = (submitter && submitter.getAttribute("formaction")) || form.getAttribute("action");
    var data = new FormData(form, submitter);
    $$("button", form).forEach(function (b) { b.disabled = true; });
    fetch(action, { method: "POST", body: new URLSearchParams(data), credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (html) { return { response: response, html: html }; });
      })
      .then(function (result) {
        var doc = parse(result.html);
        if (!$("#main", doc)) { throw new Error("not a console page"); }
        var url = result.response.url;
        if (doc.body.getAttribute("data-page") !== body.getAttribute("data-page")) {
          location.assign(url); // another kind of page: load it whole
          return;
        }
        if (url && url !== location.href) { history.pushState(null, "", url); }
        swap(doc, ["main", "flash"]);
        var flash = $("#flash p");
        announce(flash ? flash.textContent : "Done.");
      })
      .catch(function () { form.setAttribute("data-plain", ""); plainSubmit(form, submitter); });
  }

  function plainSubmit(form, submitter) {
    if (submitter && submitter.name) {
      var extra = document.createElement("input");
      extra.type = "hidden"; extra.name = submitter.name; extra.value = submitter.value;
      form.appendChild(extra);
    }
    if (submitter && submitter.getAttribute("formaction")) { form.action = submitter.getAttribute("formaction"); }
    HTMLFormElement.prototype.submit.call(form);
  }

  // -- SLA countdowns --
  var lastTick = Date.now();
  function tick() {
    var now = Date.now(), step = (now - lastTick) / 1000;
    lastTick = now;
    $$('.clock[data-running="yes"]').forEach(function (clock) {
      var remaining = Number(clock.getAttribute("data-remaining")) - step;
      clock.setAttribute("data-remaining", String(remaining));
      if (remaining < 0 && !clock.classList.contains("breached")) {
        clock.classList.remove("running", "at-risk"); clock.classList.add("breached");
      }
      var left = $(".left", clock);
      if (left) { left.textContent = remaining < 0 ? span(-remaining) + " over" : span(remaining) + " left"; }
    });
  }
  function span(seconds) {
    var whole = Math.floor(seconds), d = Math.floor(whole / 86400), h = Math.floor(whole % 86400 / 3600);
    var m = Math.floor(whole % 3600 / 60), s = whole % 60;
    function two(n) { return n < 10 ? "0" + n : String(n); }
    if (d) { return d + "d " + h + "h"; }
    if (h) { return h + "h " + two(m) + "m"; }
    return m + "m " + two(s) + "s";
  }

  // -- keyboard --
  function rows() { return $$("#tickets tr.ticket"); }
  function select(index) {
    var all = rows();
    if (!all.length) { return; }
    selected = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row, i) { row.classList.toggle("selected", i === selected); row.removeAttribute("aria-selected"); });
    all[selected].setAttribute("aria-selected", "true");
    var link = $("a", all[selected]);
    if (link) { link.focus({ preventScroll: false }); }
  }
  function current() { var all = rows(); return selected >= 0 && selected < all.length ? all[selected] : null; }
  function press(selector) { var el = $(selector); if (el) { el.click(); return true; } return false; }
  var pendingG = false;

  function onKey(event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) || target.isContentEditable) {
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    var key = event.key, help = $("#help");
    if (pendingG) {
      pendingG = false;
      var to = { i: "/console/", s: "/console/silences", e: "/console/known-errors", c: "/console/checks" }[key];
      if (to) { location.href = to; event.preventDefault(); }
      return;
    }
    var row = current();
    switch (key) {
      case "?": if (help && help.showModal && !help.open) { help.showModal(); } break;
      case "j": select(selected + 1); break;
      case "k": select(selected < 0 ? 0 : selected - 1); break;
      case "o": case "Enter":
        if (row && $("a", row)) { location.href = $("a", row).href; } else { return; }
        break;
      case "x":
        if (row && $('input[name="ids"]', row)) { var box = $('input[name="ids"]', row); box.checked = !box.checked; } else { return; }
        break;
      case "a":
        if (row) { if (!press('#row-' + CSS.escape(row.getAttribute("data-id")) + ' button[value="acknowledge"]')) { return; } }
        else if (!press('button[data-action="acknowledge"]')) { return; }
        break;
      case "r": if (!focus("#resolution") && !focus("#bulk-resolution")) { return; } break;
      case "c": if (!focus("#comment")) { return; } break;
      case "/":
        if ($(".filterbox")) { $(".filterbox").open = true; }
        if (!focus("#q")) { return; }
        break;
      case "g": pendingG = true; break;
      default: return;
    }
    event.preventDefault();
  }
  function focus(selector) { var el = $(selector); if (el) { el.focus(); return true; } return false; }

  // -- opt-in notifications and sound --
  function toggles() {
    var button = $("#notify-toggle");
    if (!button || !window.Notification) { return; }
    button.hidden = false;
    function label() {
      var on = setting("notify") && Notification.permission === "granted";
      button.textContent = on ? "Notifications on" : "Notifications off";
      button.setAttribute("aria-pressed", on ? "true" : "false");
    }
    label();
    button.addEventListener("click", function () {
      if (setting("notify")) { setSetting("notify", false); setSetting("sound", false); label(); return; }
      Notification.requestPermission().then(function (answer) {
        setSetting("notify", answer === "granted");
        setSetting("sound", answer === "granted" && window.confirm("Also play a sound for new severity 1 and 2 incidents?"));
        label();
      });
    });
  }

  function afterSwap() {
    selected = Math.min(selected, rows().length - 1);
    if (selected >= 0) { rows()[selected].classList.add("selected"); }
    noteNewTickets();
  }

  document.addEventListener("submit", onSubmit);
  document.addEventListener("keydown", onKey);
  window.addEventListener("popstate", function () { location.reload(); });
  var open = $("#help-open");
  if (open) { open.addEventListener("click", function () { var help = $("#help"); if (help && !help.open) { help.showModal(); } }); }
  toggles();
  noteNewTickets();
  follow();
  setInterval(tick, 1000);
})();
