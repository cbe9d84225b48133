// Kantine web pages: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";

  function post(form, body) {
    return fetch(form.action, {
      method: "POST",
      body: body || new FormData(form),
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || response.statusText); }
        return data;
      });
    });
  }

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  // One-tap actions: like, boost, bookmark, delete without a reload.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches(".action-form")) { return; }
    var button = form.querySelector("button");
    if (form.dataset.action === "delete" && button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    event.preventDefault();
    if (button) { button.disabled = true; }
    var article = form.closest("article.status");
    post(form).then(function (data) {
      if (!article) { return; }
      if (!data.html) { article.remove(); return; }
      var fresh = fragment(data.html);
      fresh.id = article.id;
      article.replaceWith(fresh);
      var again = fresh.querySelector('[data-action="' + form.dataset.action.replace(/^un/, "") + '"] button, [data-action="un' + form.dataset.action.replace(/^un/, "") + '"] button');
      if (again) { again.focus(); }
    }).catch(function () {
      form.submit();
    });
  });

  // The composer posts without a reload on the start page.
  var composer = document.querySelector("form[data-composer]");
  var feed = document.querySelector(".feed[data-stream]");
  if (composer && feed) {
    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = composer.querySelector("button[type=submit]");
      button.disabled = true;
      post(composer).then(function (data) {
        composer.reset();
        if (data.html) { addStatus(fragment(data.html)); }
      }).catch(function () {
        composer.submit();
      }).then(function () { button.disabled = false; });
    });
  }

  function items() {
    var list = feed.querySelector(".feed-items");
    if (!list) {
      list = document.createElement("div");
      list.className = "feed-items";
      var empty = feed.querySelector(".empty");
      if (empty) { empty.replaceWith(list); } else { feed.appendChild(list); }
    }
    return list;
  }

  function addStatus(node) {
    if (!node || document.getElementById(node.id)) { return; }
    node.classList.add("is-new");
    items().prepend(node);
  }

  // Live updates: the page's stream as server-sent events, authenticated by the session.
  // Pages without a timeline listen to "user" for the notification badge.
  if (csrf && window.EventSource) {
    var streamName = feed ? feed.dataset.stream : "user";
    var live = feed ? feed.querySelector(".feed-live") : null;
    var noteList = document.querySelector("[data-notifications] .feed-items");
    var source = new EventSource("/stream/" + encodeURIComponent(streamName));
    source.addEventListener("post", function (event) {
      if (!feed) { return; }
      var data = JSON.parse(event.data);
      var node = fragment(data.html);
      var existing = document.getElementById(node.id);
      if (existing) { existing.replaceWith(node); return; }
      addStatus(node);
      if (live) { live.textContent = live.dataset.announce || ""; }
    });
    source.addEventListener("delete", function (event) {
      var gone = document.querySelector('article.status[data-id="' + JSON.parse(event.data).id + '"]');
      if (gone) { gone.remove(); }
    });
    source.addEventListener("notification", function (event) {
      var data = JSON.parse(event.data);
      if (noteList) {
        var empty = document.querySelector("[data-notifications] .empty");
        if (empty) { empty.remove(); }
        if (!document.getElementById("notification-" + data.id)) { noteList.prepend(fragment(data.html)); }
        return;
      }
      var link = document.querySelector(".nav-notifications");
      if (!link) { return; }
      var badge = link.querySelector(".nav-badge");
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "nav-badge";
        badge.textContent = "0";
        link.appendChild(badge);
      }
      badge.textContent = String(Number(badge.textContent) + 1);
    });
  }

  // Infinite scroll: the "older posts" link loads the next page in place when it comes into view.
  var older = document.querySelector("a[data-older]");
  if (older && window.IntersectionObserver) {
    var loading = false;
    var observer = new IntersectionObserver(function (entries) {
      if (loading || !entries.some(function (e) { return e.isIntersecting; })) { return; }
      loading = true;
      fetch(older.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var list = document.querySelector(".feed-items");
          page.querySelectorAll(".feed-items > article.status").forEach(function (node) {
            if (!document.getElementById(node.id)) { list.appendChild(document.adoptNode(node)); }
          });
          var next = page.querySelector("a[data-older]");
          if (next) { older.href = next.href; loading = false; }
          else { observer.disconnect(); older.closest(".pager").remove(); }
        })
        .catch(function () { observer.disconnect(); });
    }, { rootMargin: "600px" });
    observer.observe(older);
  }
})();
