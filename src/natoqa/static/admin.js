/* natoqa admin page: documents, builds and index versions over the admin API.
 * Plain JS, no build step. The token stays in this tab (sessionStorage) and is sent
 * only to this origin. Strings in German and English (docs/DOCUMENTS.md). */
(function () {
  "use strict";

  var API = "/api/v1/admin";
  var STRINGS = {
    de: {
      skip: "Zum Inhalt", title: "Verwaltung", signout: "Abmelden", signinTitle: "Anmelden",
      token: "Admin-Token", signin: "Anmelden", buildTitle: "Index-Aufbau",
      documentsTitle: "Dokumente", search: "Nach Titel suchen", colTitle: "Titel",
      colId: "Kennung", colFormat: "Format", colStatus: "Status", colActions: "Aktionen",
      noDocuments: "Keine Dokumente gefunden.",
      uploadTitle: "Dokument hochladen oder ersetzen",
      file: "Datei (PDF, HTML, Markdown, Text)", docId: "Kennung",
      docIdHint: "Buchstaben, Ziffern, _ und -; dieselbe Kennung ersetzt das Dokument.",
      metaTitle: "Titel", metaAuthors: "Autorinnen und Autoren (durch Komma getrennt)",
      metaDate: "Datum (JJJJ, JJJJ-MM oder JJJJ-MM-TT)", metaPublisher: "Herausgeber",
      metaUrl: "Link zur Quelle", metaLanguage: "Sprache", langAuto: "automatisch",
      upload: "Hochladen", versionsTitle: "Indexversionen", colVersion: "Version",
      colCreated: "Erstellt", colCounts: "Dokumente / Abschnitte", colReport: "Bericht",
      buildsTitle: "Letzte Index-Aufbauten",
      indexed: "indexiert in {v}", pending: "wartet auf den Aufbau",
      removing: "entfernt, noch im Index", skipped: "übersprungen: {r}",
      remove: "Entfernen", removeLabel: "{t} entfernen",
      confirmRemove: "„{t}“ aus den Quellen entfernen?",
      rollback: "Zurückrollen", rollbackLabel: "Auf Version {v} zurückrollen",
      current: "aktuell", served: "beantwortet Fragen",
      idle: "Kein Aufbau läuft.", queued: "Aufbau {id} wartet ({n} Änderungen) …",
      running: "Aufbau {id} läuft: {p}", phase_reading: "Quellen lesen",
      "phase_loading the model": "Modell laden", phase_passages: "Abschnitte einbetten",
      phase_sentences: "Sätze einbetten", phase_switching: "auf neue Version umschalten",
      succeeded: "fertig", failed: "fehlgeschlagen", state_queued: "wartet",
      state_running: "läuft",
      report: "{a} neu, {c} geändert, {r} entfernt, {s} übersprungen, {t} s",
      unchangedReport: "keine Änderung", noReport: "(Aufbau über die Kommandozeile)",
      uploaded: "„{id}“ gespeichert; Aufbau {b} folgt.", same: "„{id}“ ist unverändert.",
      removed: "„{id}“ entfernt; Aufbau {b} folgt.",
      rolledBack: "Version {v} ist jetzt aktuell.", badToken: "Der Token ist falsch.",
      needToken: "Bitte den Admin-Token eingeben.", needFile: "Bitte eine Datei wählen.",
      needId: "Bitte eine gültige Kennung angeben.", failedRequest: "Fehler: {d}",
      unreachable: "Der Server ist nicht erreichbar."
    },
    en: {
      skip: "Skip to content", title: "Administration", signout: "Sign out",
      signinTitle: "Sign in", token: "Admin token", signin: "Sign in",
      buildTitle: "Index build", documentsTitle: "Documents", search: "Search by title",
      colTitle: "Title", colId: "Name", colFormat: "Format", colStatus: "Status",
      colActions: "Actions", noDocuments: "No documents found.",
      uploadTitle: "Upload or replace a document",
      file: "File (PDF, HTML, Markdown, text)", docId: "Name",
      docIdHint: "Letters, digits, _ and -; the same name replaces the document.",
      metaTitle: "Title", metaAuthors: "Authors (comma-separated)",
      metaDate: "Date (YYYY, YYYY-MM or YYYY-MM-DD)", metaPublisher: "Publisher",
      metaUrl: "Link to the source", metaLanguage: "Language", langAuto: "detect",
      upload: "Upload", versionsTitle: "Index versions", colVersion: "Version",
      colCreated: "Created", colCounts: "Documents / passages", colReport: "Report",
      buildsTitle: "Recent builds",
      indexed: "indexed in {v}", pending: "waiting for the build",
      removing: "removed, still in the index", skipped: "skipped: {r}",
      remove: "Remove", removeLabel: "Remove {t}",
      confirmRemove: "Remove “{t}” from the sources?",
      rollback: "Roll back", rollbackLabel: "Roll back to version {v}",
      current: "current", served: "answering",
      idle: "No build is running.", queued: "Build {id} is queued ({n} changes) …",
      running: "Build {id} is running: {p}", phase_reading: "reading the sources",
      "phase_loading the model": "loading the model", phase_passages: "embedding passages",
      phase_sentences: "embedding sentences", phase_switching: "switching to the new version",
      succeeded: "done", failed: "failed", state_queued: "queued", state_running: "running",
      report: "{a} added, {c} changed, {r} removed, {s} skipped, {t} s",
      unchangedReport: "nothing changed", noReport: "(built on the command line)",
      uploaded: "“{id}” stored; build {b} follows.", same: "“{id}” is unchanged.",
      removed: "“{id}” removed; build {b} follows.",
      rolledBack: "Version {v} is current now.", badToken: "The token is wrong.",
      needToken: "Please enter the admin token.", needFile: "Please choose a file.",
      needId: "Please give a valid name.", failedRequest: "Error: {d}",
      unreachable: "The server cannot be reached."
    }
  };
  var TYPES = { pdf: "application/pdf", html: "text/html", htm: "text/html",
                md: "text/markdown", markdown: "text/markdown", txt: "text/plain" };

  var lang = pickLanguage();
  var token = sessionStorage.getItem("natoqa-admin-token") || "";
  var state = { documents: [], versions: [], builds: [], active: null };
  var timer = null;

  function $(id) { return document.getElementById(id); }

  function t(key, values) {
    var text = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    return text.replace(/\{(\w+)\}/g, function (_, name) {
      return values && values[name] !== undefined ? String(values[name]) : "";
    });
  }

  function pickLanguage() {
    var asked = new URLSearchParams(location.search).get("lang") ||
      localStorage.getItem("natoqa-admin-lang") || navigator.language || "de";
    return asked.toLowerCase().indexOf("en") === 0 ? "en" : "de";
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = "natoqa – " + t("title");
    document.querySelectorAll("[data-t]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-t"));
    });
    document.querySelectorAll("[data-lang]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-lang") === lang));
    });
    if (token) { render(); }
  }

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") { node.textContent = props[k]; }
      else if (k === "onclick") { node.addEventListener("click", props[k]); }
      else { node.setAttribute(k, props[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  // --- the API ---------------------------------------------------------------

  function api(method, path, body, headers) {
    var init = { method: method, headers: Object.assign({ Authorization: "Bearer " + token },
                                                         headers || {}) };
    if (body !== undefined) { init.body = body; }
    return fetch(API + path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = text ? JSON.parse(text) : null;
        if (!response.ok) {
          var error = new Error((data && (data.detail || data.title)) || response.statusText);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    }, function () { throw new Error(t("unreachable")); });
  }

  function say(message) { $("notice").textContent = message; $("error").textContent = ""; }
  function fail(error) {
    if (error.status === 401 || error.status === 403) { signOut(t("badToken")); return; }
    $("error").textContent = t("failedRequest", { d: error.message });
  }

  // --- signing in ------------------------------------------------------------

  function signIn(event) {
    event.preventDefault();
    var given = $("token").value.trim();
    if (!given) { $("signin-error").textContent = t("needToken"); $("token").focus(); return; }
    token = given;
    api("GET", "/versions").then(function () {
      sessionStorage.setItem("natoqa-admin-token", token);
      $("token").value = "";
      $("signin-error").textContent = "";
      show(true);
      $("main").focus();
    }, function (error) {
      token = "";
      $("signin-error").textContent = error.status === 403 || error.status === 401 ?
        t("badToken") : t("failedRequest", { d: error.message });
      $("token").focus();
    });
  }

  function signOut(message) {
    token = "";
    sessionStorage.removeItem("natoqa-admin-token");
    show(false);
    $("signin-error").textContent = typeof message === "string" ? message : "";
    $("token").focus();
  }

  function show(signedIn) {
    $("signin").hidden = signedIn;
    $("app").hidden = !signedIn;
    $("signout").hidden = !signedIn;
    clearTimeout(timer);
    if (signedIn) { refresh(); }
  }

  // --- loading and polling ------------------------------------------------------

  function refresh() {
    clearTimeout(timer);
    return Promise.all([api("GET", "/documents"), api("GET", "/versions"),
                        api("GET", "/builds?limit=10")]).then(function (all) {
      state.documents = all[0].documents;
      state.active = all[0].build;
      state.versions = all[1].versions;
      state.builds = all[2].builds;
      render();
    }, fail).then(function () {
      if (token) { timer = setTimeout(poll, state.active ? 700 : 5000); }
    });
  }

  function poll() {
    if (!state.active) { refresh(); return; }
    api("GET", "/builds/" + state.active.id).then(function (build) {
      if (build.state === "succeeded" || build.state === "failed") { refresh(); return; }
      state.active = build;
      renderBuild();
      timer = setTimeout(poll, 700);
    }, function (error) { fail(error); timer = setTimeout(refresh, 5000); });
  }

  // --- rendering ----------------------------------------------------------------

  function render() { renderBuild(); renderDocuments(); renderVersions(); renderBuilds(); }

  function renderBuild() {
    var build = state.active, bar = $("build-progress");
    if (!build) { $("build-state").textContent = t("idle"); bar.hidden = true; return; }
    if (build.state === "queued") {
      $("build-state").textContent = t("queued", { id: build.id, n: build.changes.length });
      bar.hidden = true;
      return;
    }
    var phase = t("phase_" + build.phase);
    if (build.total) { phase += " (" + build.done + "/" + build.total + ")"; }
    $("build-state").textContent = t("running", { id: build.id, p: phase });
    bar.hidden = false;
    if (build.total) { bar.max = build.total; bar.value = build.done; }
    else { bar.removeAttribute("value"); }
    bar.setAttribute("aria-label", phase);
  }

  function statusText(doc) {
    if (doc.status === "indexed") { return t("indexed", { v: doc.version }); }
    if (doc.status === "skipped") { return t("skipped", { r: doc.reason }); }
    return doc.in_corpus ? t("pending") : t("removing");
  }

  function renderDocuments() {
    var query = $("search").value.trim().toLowerCase();
    var body = $("doc-table").querySelector("tbody");
    var shown = state.documents.filter(function (d) {
      var title = String(d.meta.title || "");
      return !query || title.toLowerCase().indexOf(query) >= 0 ||
        d.doc_id.toLowerCase().indexOf(query) >= 0;
    });
    body.replaceChildren.apply(body, shown.map(function (d) {
      var title = String(d.meta.title || d.doc_id);
      var action = d.in_corpus && d.doc_id.indexOf("/") < 0 ? el("button", {
        type: "button", class: "remove", text: t("remove"),
        "aria-label": t("removeLabel", { t: title }),
        onclick: function () { removeDocument(d, title); }
      }) : null;
      return el("tr", { "data-doc": d.doc_id, "data-status": d.status }, [
        el("td", { class: "title", text: title }),
        el("td", {}, [el("code", { text: d.doc_id })]),
        el("td", { text: d.format || "" }),
        el("td", { class: "status status-" + d.status, text: statusText(d) }),
        el("td", {}, [action])
      ]);
    }));
    $("doc-empty").hidden = shown.length > 0;
  }

  function reportText(report) {
    if (!report) { return t("noReport"); }
    if (!report.switched) { return t("unchangedReport"); }
    return t("report", { a: report.documents_added, c: report.documents_changed,
                         r: report.documents_removed, s: report.skipped.length,
                         t: report.seconds });
  }

  function renderVersions() {
    var body = $("version-table").querySelector("tbody");
    body.replaceChildren.apply(body, state.versions.map(function (v) {
      var marks = [v.current ? t("current") : "", v.served ? t("served") : ""]
        .filter(Boolean).join(", ");
      var action = v.current ? null : el("button", {
        type: "button", class: "rollback", text: t("rollback"),
        "aria-label": t("rollbackLabel", { v: v.version }),
        onclick: function () { rollback(v.version); }
      });
      return el("tr", { "data-version": v.version, class: v.current ? "current" : "" }, [
        el("td", {}, [el("code", { text: v.version }),
                      marks ? el("span", { class: "mark", text: " " + marks }) : null]),
        el("td", { text: v.created ? new Date(v.created).toLocaleString(lang) : "" }),
        el("td", { text: (v.documents === null ? "?" : v.documents) + " / " +
                         (v.passages === null ? "?" : v.passages) }),
        el("td", { text: reportText(v.report) }),
        el("td", {}, [action])
      ]);
    }));
  }

  function renderBuilds() {
    var list = $("build-list");
    list.replaceChildren.apply(list, state.builds.map(function (b) {
      var who = b.changes.map(function (c) {
        return c.action + (c.doc_id ? " " + c.doc_id : "") + " (" + c.actor + ")";
      }).join(", ");
      var outcome = b.state === "failed" ? t("failed") + ": " + b.error :
        b.state === "succeeded" ? t("succeeded") + " – " + reportText(b.report) :
        t("state_" + b.state);
      return el("li", { "data-build": b.id, "data-state": b.state }, [
        el("code", { text: b.id }), el("span", { text: " " + who + ": " + outcome })
      ]);
    }));
  }

  // --- changes ----------------------------------------------------------------

  function upload(event) {
    event.preventDefault();
    var file = $("up-file").files[0];
    if (!file) { $("error").textContent = t("needFile"); $("up-file").focus(); return; }
    if (!$("up-id").value || !$("up-id").checkValidity()) {
      $("error").textContent = t("needId"); $("up-id").focus(); return;
    }
    var params = new URLSearchParams();
    [["title", "up-title"], ["date", "up-date"], ["publisher", "up-publisher"],
     ["url", "up-url"], ["language", "up-language"]].forEach(function (pair) {
      var value = $(pair[1]).value.trim();
      if (value) { params.append(pair[0], value); }
    });
    $("up-authors").value.split(",").forEach(function (name) {
      if (name.trim()) { params.append("authors", name.trim()); }
    });
    var suffix = file.name.split(".").pop().toLowerCase();
    var type = TYPES[suffix] || file.type || "application/octet-stream";
    var id = $("up-id").value;
    $("upload").disabled = true;
    api("PUT", "/documents/" + encodeURIComponent(id) + "?" + params, file,
        { "Content-Type": type }).then(function (change) {
      say(change.changed || change.build_id ? t("uploaded", { id: id, b: change.build_id })
                                             : t("same", { id: id }));
      $("upload-form").reset();
      return refresh();
    }, fail).then(function () { $("upload").disabled = false; });
  }

  function removeDocument(doc, title) {
    if (!window.confirm(t("confirmRemove", { t: title }))) { return; }
    api("DELETE", "/documents/" + encodeURIComponent(doc.doc_id)).then(function (change) {
      say(t("removed", { id: doc.doc_id, b: change.build_id }));
      return refresh();
    }, fail).then(function () { $("search").focus(); });
  }

  function rollback(version) {
    api("POST", "/rollback", JSON.stringify({ version: version }),
        { "Content-Type": "application/json" }).then(function (result) {
      say(t("rolledBack", { v: result.version }));
      return refresh();
    }, fail).then(function () { $("versions-h").focus(); });
  }

  function fileChosen() {
    var file = $("up-file").files[0];
    if (file && !$("up-id").value) {
      $("up-id").value = file.name.replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_.-]+/g, "-")
        .replace(/^[^A-Za-z0-9]+/, "").replace(/\.{2,}/g, ".").slice(0, 100);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("versions-h").tabIndex = -1;
    $("signin-form").addEventListener("submit", signIn);
    $("signout").addEventListener("click", function () { signOut(); });
    $("upload-form").addEventListener("submit", upload);
    $("up-file").addEventListener("change", fileChosen);
    $("search").addEventListener("input", renderDocuments);
    document.querySelectorAll("[data-lang]").forEach(function (b) {
      b.addEventListener("click", function () {
        lang = b.getAttribute("data-lang");
        localStorage.setItem("natoqa-admin-lang", lang);
        applyLanguage();
      });
    });
    applyLanguage();
    if (token) { show(true); } else { show(false); $("token").focus(); }
  });
})();
